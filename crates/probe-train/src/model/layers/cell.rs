//! The GRU and LSTM cells' elementwise part as one op each on the CPU, forward and backward.
//!
//! Composed from candle ops, one GRU step is ~12 elementwise ops, 6 `narrow` copies and their
//! backward (zero-padded gradients, sums): 29 % of a GRU training step was elementwise maps and
//! 16 % `memmove` (issue 20's profile). Here a step's gates are read once and written once:
//!
//! - [`gru_cell`]: `(gx [B, 3H], gh [B, 3H], h [B, H])` → `h' [B, H]` with `r = σ(gx_r + gh_r)`,
//!   `z = σ(gx_z + gh_z)`, `n = tanh(gx_n + r·gh_n)`, `h' = n + z·(h − n)`;
//! - [`lstm_cell`]: `(gates [B, 4H], c [B, H])` → `(h', c')` `[B, H]` with gates `i f g o`,
//!   `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`.
//!
//! In `f32` the gates use the vectorised `tanh` of the MLPs (`cpu_op::Gate`), so the forward values
//! agree with the composition in `recurrent.rs` (candle's scalar `exp` and `tanh`) to 1e-6, not to
//! the bit; in `f64` they are bit-identical (the same operations in the same order). The backward writes every gradient in one pass from the gates the forward saved
//! (the op's output holds them behind `h'` and `c'`, so nothing transcendental is computed twice;
//! `stash::Stashed` returns only `h'` and `c'` and keeps the rest for the backward pass);
//! it sums in a different order than candle's autograd, so gradients agree to rounding
//! (tests: `tests/model_cells.rs` against the composition, `tests/model_finite_diff.rs` against
//! central differences). Other devices and dtypes use the composition.

use candle_core::{bail, Layout, Shape, Tensor};

use super::cpu_op::{FloatOp, Gate};
use super::par::{split_rows_k, zeros};
use super::stash::Stashed;
use crate::Result;

/// `[B, G·H]` as `B` rows of `G·H`, checked against `[B, H]` state rows.
fn check_rows(
    what: &str,
    gates: &Layout,
    g: usize,
    state: &[&Layout],
) -> candle_core::Result<(usize, usize)> {
    let (b, gh) = gates.shape().dims2()?;
    if gh % g != 0 {
        bail!("{what}: gates of width {gh} are not {g}·H")
    }
    let hd = gh / g;
    for l in state {
        if l.dims() != [b, hd] {
            bail!("{what}: state {:?} for gates {:?}", l.dims(), gates.dims())
        }
    }
    Ok((b, hd))
}

/// One GRU step's elementwise part (see the module header); `gx`, `gh`, `h` contiguous. The
/// output is `[4, B, H]`: `h'` and the gates `r`, `z`, `n` the backward reads ([`gru_cell`] returns
/// `h'` alone, see `stash.rs`).
#[derive(Clone, Copy, Debug)]
pub struct GruCell;

/// `out = [h', r, z, n]` (each `[B, H]`) of one GRU step.
#[inline(always)]
fn gru_fwd_body<T: Gate>(gx: &[T], gh: &[T], h: &[T], hd: usize, out: [&mut [T]; 4]) {
    let [h2, r_, z_, n_] = out;
    let rows = gx.chunks_exact(3 * hd).zip(gh.chunks_exact(3 * hd));
    for (k, (x, y)) in rows.enumerate() {
        let at = k * hd..(k + 1) * hd;
        let (h, h2) = (&h[at.clone()], &mut h2[at.clone()]);
        let (r_, z_, n_) = (&mut r_[at.clone()], &mut z_[at.clone()], &mut n_[at]);
        let (xr, xz, xn) = (&x[..hd], &x[hd..2 * hd], &x[2 * hd..3 * hd]);
        let (yr, yz, yn) = (&y[..hd], &y[hd..2 * hd], &y[2 * hd..3 * hd]);
        for j in 0..hd {
            let r = T::sig(xr[j] + yr[j]);
            let z = T::sig(xz[j] + yz[j]);
            let n = T::th(xn[j] + r * yn[j]);
            h2[j] = n + z * (h[j] - n);
            (r_[j], z_[j], n_[j]) = (r, z, n);
        }
    }
}

probe_simd::isa_dispatch! {
    /// [`gru_fwd_body`] with the code for `isa` (identical results at every one: no fused
    /// multiply-adds are formed).
    fn gru_fwd_with<T: Gate>(gx: &[T], gh: &[T], h: &[T], hd: usize, out: [&mut [T]; 4]) => gru_fwd_body
}

/// [`gru_fwd_body`] over chunks of rows on rayon's pool (`par`; the same values at every split).
fn gru_fwd<T: Gate>(gx: &[T], gh: &[T], h: &[T], hd: usize) -> Vec<T> {
    let bh = h.len();
    let mut out = zeros(4 * bh, T::zero());
    let (h2, rest) = out.split_at_mut(bh);
    let (r_, rest) = rest.split_at_mut(bh);
    let (z_, n_) = rest.split_at_mut(bh);
    let isa = probe_simd::isa();
    split_rows_k([h2, r_, z_, n_], [hd; 4], |first, out| {
        let rows = first..first + out[0].len() / hd;
        let (g3, g1) = (3 * rows.start..3 * rows.end, rows.start..rows.end);
        let (g3, g1) = (
            (g3.start * hd)..(g3.end * hd),
            (g1.start * hd)..(g1.end * hd),
        );
        gru_fwd_with(isa, &gx[g3.clone()], &gh[g3], &h[g1], hd, out);
    });
    out
}

/// The gradients `(d gx, d gh, d h)` of one GRU step from its output `res` (`[h' | r | z | n]`)
/// and the gradient `d` of `h'`.
fn gru_bwd<T: Gate>(gh: &[T], h: &[T], res: &[T], d: &[T], hd: usize) -> [Vec<T>; 3] {
    let bh = h.len();
    let (r_, z_, n_) = (&res[bh..2 * bh], &res[2 * bh..3 * bh], &res[3 * bh..4 * bh]);
    let mut dgx = zeros(3 * bh, T::zero());
    let mut dgh = zeros(3 * bh, T::zero());
    let mut dh = zeros(bh, T::zero());
    let outs = [&mut dgx[..], &mut dgh[..], &mut dh[..]];
    split_rows_k(outs, [3 * hd, 3 * hd, hd], |first, [dgx, dgh, dh]| {
        let rows = dgx
            .chunks_exact_mut(3 * hd)
            .zip(dgh.chunks_exact_mut(3 * hd));
        let gh = &gh[first * 3 * hd..];
        for (k, ((dx, dy), y)) in rows.zip(gh.chunks_exact(3 * hd)).enumerate() {
            gru_bwd_row(k, first * hd, hd, [r_, z_, n_, h, d], y, [dx, dy], dh);
        }
    });
    [dgx, dgh, dh]
}

/// Row `k` of a chunk starting at element `at` of the `[B, H]` blocks `rzn_hd = [r, z, n, h, d]`
/// (`y`: the row of `gh`; `dxy`: the rows of `d gx` and `d gh`; `dh`: the chunk of `d h`).
#[inline(always)]
fn gru_bwd_row<T: Gate>(
    k: usize,
    at: usize,
    hd: usize,
    rzn_hd: [&[T]; 5],
    y: &[T],
    dxy: [&mut [T]; 2],
    dh: &mut [T],
) {
    let [r_, z_, n_, h, d] = rzn_hd;
    let [dx, dy] = dxy;
    for j in 0..hd {
        let (i, l) = (at + k * hd + j, k * hd + j);
        let (r, z, n, one) = (r_[i], z_[i], n_[i], T::one());
        // h' = n + z·(h − n): ∂h'/∂n = 1 − z, ∂h'/∂z = h − n, ∂h'/∂h = z.
        let da_n = d[i] * (one - z) * (one - n * n);
        let da_z = d[i] * (h[i] - n) * z * (one - z);
        let da_r = da_n * y[2 * hd + j] * r * (one - r);
        (dx[j], dx[hd + j], dx[2 * hd + j]) = (da_r, da_z, da_n);
        (dy[j], dy[hd + j], dy[2 * hd + j]) = (da_r, da_z, da_n * r);
        dh[l] = d[i] * z;
    }
}

impl FloatOp for GruCell {
    const NAME: &'static str = "gru-cell";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let (b, hd) = check_rows(Self::NAME, l[0], 3, &[l[2]])?;
        if l[1].dims() != l[0].dims() {
            bail!("gru-cell: gh {:?} for gx {:?}", l[1].dims(), l[0].dims())
        }
        Ok(Shape::from((4, b, hd)))
    }

    fn forward<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        gru_fwd(x[0], x[1], x[2], dims[2][1])
    }

    fn grads<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]], res: &[T], d: &[T]) -> Vec<Vec<T>> {
        gru_bwd(x[1], x[2], res, d, dims[2][1]).into()
    }
}

/// One LSTM step's elementwise part (see the module header); `gates`, `c` contiguous. The
/// output is `[7, B, H]`: `h'`, `c'` and what the backward reads (`i`, `f`, `g`, `o`, `tanh c'`;
/// [`lstm_cell`] returns `h'` and `c'` alone, see `stash.rs`).
#[derive(Clone, Copy, Debug)]
pub struct LstmCell;

/// `out = [h', c', i, f, g, o, tanh c']` (each `[B, H]`) of one LSTM step.
#[inline(always)]
fn lstm_fwd_body<T: Gate>(gates: &[T], c: &[T], hd: usize, out: [&mut [T]; 7]) {
    let [h2, c2, i_, f_, g_, o_, t_] = out;
    for (k, g) in gates.chunks_exact(4 * hd).enumerate() {
        let at = k * hd..(k + 1) * hd;
        let (c, h2, c2) = (&c[at.clone()], &mut h2[at.clone()], &mut c2[at.clone()]);
        let (i_, f_, g_) = (
            &mut i_[at.clone()],
            &mut f_[at.clone()],
            &mut g_[at.clone()],
        );
        let (o_, t_) = (&mut o_[at.clone()], &mut t_[at]);
        let (gi, gf) = (&g[..hd], &g[hd..2 * hd]);
        let (gg, go) = (&g[2 * hd..3 * hd], &g[3 * hd..4 * hd]);
        for j in 0..hd {
            let (i, f, g, o) = (T::sig(gi[j]), T::sig(gf[j]), T::th(gg[j]), T::sig(go[j]));
            let cc = f * c[j] + i * g;
            let tc = T::th(cc);
            (c2[j], h2[j], t_[j]) = (cc, o * tc, tc);
            (i_[j], f_[j], g_[j], o_[j]) = (i, f, g, o);
        }
    }
}

probe_simd::isa_dispatch! {
    /// [`lstm_fwd_body`] with the code for `isa` (identical results at every one).
    fn lstm_fwd_with<T: Gate>(gates: &[T], c: &[T], hd: usize, out: [&mut [T]; 7]) => lstm_fwd_body
}

/// [`lstm_fwd_body`] over chunks of rows on rayon's pool (`par`; the same values at every split).
fn lstm_fwd<T: Gate>(gates: &[T], c: &[T], hd: usize) -> Vec<T> {
    let bh = c.len();
    let mut out = zeros(7 * bh, T::zero());
    let mut parts = out.chunks_exact_mut(bh.max(1));
    let outs: [&mut [T]; 7] = std::array::from_fn(|_| parts.next().unwrap_or_default());
    let isa = probe_simd::isa();
    split_rows_k(outs, [hd; 7], |first, out| {
        let rows = first * hd..(first + out[0].len() / hd) * hd;
        let g4 = 4 * rows.start..4 * rows.end;
        lstm_fwd_with(isa, &gates[g4], &c[rows], hd, out);
    });
    out
}

/// The gradients `(d gates, d c)` of one LSTM step from its output `res` and the gradient `d`
/// of it (`d h'` and `d c'` in its first two blocks).
fn lstm_bwd<T: Gate>(c: &[T], res: &[T], d: &[T], hd: usize) -> [Vec<T>; 2] {
    let bh = c.len();
    let block = |k: usize| &res[k * bh..(k + 1) * bh];
    let (i_, f_, g_, o_, t_) = (block(2), block(3), block(4), block(5), block(6));
    let (dh2, dc2) = (&d[..bh], &d[bh..2 * bh]);
    let mut dg = zeros(4 * bh, T::zero());
    let mut dc = zeros(bh, T::zero());
    split_rows_k(
        [&mut dg[..], &mut dc[..]],
        [4 * hd, hd],
        |first, [dg, dcs]| {
            for (k, dg) in dg.chunks_exact_mut(4 * hd).enumerate() {
                lstm_bwd_row(
                    first * hd + k * hd,
                    hd,
                    [c, i_, f_, g_, o_, t_, dh2, dc2],
                    dg,
                    &mut dcs[k * hd..],
                );
            }
        },
    );
    [dg, dc]
}

/// One row of [`lstm_bwd`]: from element `at` of the `[B, H]` blocks
/// `[c, i, f, g, o, tanh c', d h', d c']`, the row `dg` of `d gates` and the start of the row of `d c`.
#[inline(always)]
fn lstm_bwd_row<T: Gate>(at: usize, hd: usize, blocks: [&[T]; 8], dg: &mut [T], dcs: &mut [T]) {
    let [c, i_, f_, g_, o_, t_, dh2, dc2] = blocks;
    for j in 0..hd {
        let x = at + j;
        let (i, f, gg, o, tc, one) = (i_[x], f_[x], g_[x], o_[x], t_[x], T::one());
        // h' = o·tanh(c'): the gradient reaching c' adds through tanh.
        let dct = dc2[x] + dh2[x] * o * (one - tc * tc);
        dg[j] = dct * gg * i * (one - i);
        dg[hd + j] = dct * c[x] * f * (one - f);
        dg[2 * hd + j] = dct * i * (one - gg * gg);
        dg[3 * hd + j] = dh2[x] * tc * o * (one - o);
        dcs[j] = dct * f;
    }
}

impl FloatOp for LstmCell {
    const NAME: &'static str = "lstm-cell";

    fn shape(&self, l: &[&Layout]) -> candle_core::Result<Shape> {
        let (b, hd) = check_rows(Self::NAME, l[0], 4, &[l[1]])?;
        Ok(Shape::from((7, b, hd)))
    }

    fn forward<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]]) -> Vec<T> {
        lstm_fwd(x[0], x[1], dims[1][1])
    }

    fn grads<T: Gate>(&self, x: &[&[T]], dims: &[&[usize]], res: &[T], d: &[T]) -> Vec<Vec<T>> {
        lstm_bwd(x[1], res, d, dims[1][1]).into()
    }
}

/// [`GruCell`]: `(gx [B, 3H], gh [B, 3H], h [B, H])` → `h' [B, H]` (CPU, f32 or f64).
pub fn gru_cell(gx: &Tensor, gh: &Tensor, h: &Tensor) -> Result<Tensor> {
    let (gx, gh, h) = (gx.contiguous()?, gh.contiguous()?, h.contiguous()?);
    let out = gx.apply_op3(&gh, &h, Stashed::new(GruCell, 1))?; // [1, B, H]
    Ok(out.squeeze(0)?)
}

/// [`LstmCell`]: `(gates [B, 4H], c [B, H])` → `(h', c')`, each `[B, H]` (CPU, f32 or f64).
pub fn lstm_cell(gates: &Tensor, c: &Tensor) -> Result<(Tensor, Tensor)> {
    let (gates, c) = (gates.contiguous()?, c.contiguous()?);
    let out = gates.apply_op2(&c, Stashed::new(LstmCell, 2))?; // [2, B, H]
    Ok((out.get(0)?, out.get(1)?))
}
