// Runs probe's CUDA kernels (kernels/*.cu, compiled as C++ against emu.h) on the CPU, at the block
// size the host launches them with (256 threads), and compares every count with the independent
// reference of ref.h, for every element type the kernels read (f32, f64, f16, bf16). Exits non-zero
// if anything differs. Build and run: bash scripts/cuda/emulate.sh
#include "binned_keys.cu"
#include "distinct_counts.cu"
#include "neuron_hist.cu"

#include <random>
#include <tuple>

static int failures = 0;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::printf("FAIL %s:%d: ", __FILE__, __LINE__);                                       \
            std::printf(__VA_ARGS__);                                                              \
            std::printf("\n");                                                                     \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

#include "ref.h"

// ---- the device pipeline, emulated --------------------------------------------------------------

static const dim3 BLOCK = {256, 1, 1};         // src/cuda/mod.rs `BLOCK`
static const u64 KEY_SEED = 0x70726f62652d6b31ull; // kernel_plan.rs `KEY_SEED`

// The kernels of each element type, as overloads on the element pointer.
#define PROBE_ENTRY_POINTS(SUFFIX, T)                                                              \
    static void keys_thr(const T *x, u64 n, u32 d, const float *thr, u32 m, float t0, float inv,   \
                         u32 search, u32 bits, u32 per, u32 limbs, const u64 *coef, u32 glog,      \
                         u64 *k1, u64 *k2) {                                                       \
        row_keys_thr_##SUFFIX(x, n, d, thr, m, t0, inv, search, bits, per, limbs, coef, glog, k1,  \
                              k2);                                                                 \
    }                                                                                              \
    static void keys_floor(const T *x, u64 n, u32 d, double w, const u64 *coef, u32 glog, u64 *k1, \
                           u64 *k2) {                                                              \
        row_keys_floor_##SUFFIX(x, n, d, w, coef, glog, k1, k2);                                   \
    }                                                                                              \
    static void hist(const T *x, u64 n, u32 d, const float *thr, u32 m, float t0, float inv,       \
                     u32 search, u32 tile, u32 rows, u32 direct, u32 *out) {                       \
        neuron_hist_##SUFFIX(x, n, d, thr, m, t0, inv, search, tile, rows, direct, out);           \
    }                                                                                              \
    [[maybe_unused]] static const char *dtype(const T *) { return #SUFFIX; }
PROBE_ENTRY_POINTS(f32, float)
PROBE_ENTRY_POINTS(f64, double)
PROBE_ENTRY_POINTS(f16, f16_t)
PROBE_ENTRY_POINTS(bf16, bf16_t)

// The f32 value each element type is read as (the definitions, not the kernels' loads).
static float widen(float v) { return v; }
static float widen(double v) { return (float)v; } // round to nearest even, as CUDA's cvt.rn
static float widen(f16_t v) { return probe_f16_to_f32(v.bits); } // checked in scalar_helpers
static float widen(bf16_t v) {
    u32 b = (u32)v.bits << 16;
    float f;
    std::memcpy(&f, &b, 4);
    return f;
}
template <typename T> static std::vector<float> widened(const std::vector<T> &x) {
    std::vector<float> out;
    for (const T &v : x) out.push_back(widen(v));
    return out;
}

// The coefficient cache of the device: generated once by key_coefficients (3 blocks, grid-stride),
// then every row width uses a prefix of it, as src/cuda/keys.rs does.
static std::vector<u64> coef_cache;
static const u64 *device_coefficients(u64 limbs) {
    if (coef_cache.size() < 2 * limbs) {
        coef_cache.assign(std::max<u64>(2 * limbs, 8192), 0);
        emu_launch({3}, BLOCK, 0, [&] {
            key_coefficients(KEY_SEED, coef_cache.size(), coef_cache.data());
        });
    }
    return coef_cache.data();
}

template <typename T>
static RefCounts device(const std::vector<T> &x, u64 n, u32 d, const Bins &b,
                        const std::vector<u32> &xl_in, const std::vector<u32> &yl_in,
                        u32 grid_blocks) {
    // Dense labels and group sizes (the host does this once per probe set).
    auto dense = [&](const std::vector<u32> &l, std::vector<u32> &ids, std::vector<u32> &groups) {
        std::map<u32, u32> id;
        for (u32 v : l) {
            auto it = id.emplace(v, (u32)id.size()).first;
            ids.push_back(it->second);
        }
        groups.assign(id.size(), 0);
        for (u32 i : ids) ++groups[i];
    };
    std::vector<u32> xl, yl, xg, yg;
    dense(xl_in, xl, xg);
    dense(yl_in, yl, yg);

    std::vector<u64> k1(n), k2(n);
    u32 glog = 0;
    while ((1u << glog) < 32 && (u64)(16u << glog) < d) ++glog;
    if (b.floor) {
        const u64 *coef = device_coefficients(2 * (u64)d);
        emu_launch({grid_blocks}, BLOCK, 0, [&] {
            keys_floor(x.data(), n, d, b.width, coef, glog, k1.data(), k2.data());
        });
    } else {
        const u32 m = (u32)b.thr.size();
        const u32 bits = std::max<u32>(1, log2_ceil((u64)m + 2));
        const u32 per = 32 / bits;
        const u32 limbs = (d + per - 1) / per;
        const u64 *coef = device_coefficients(limbs);
        std::vector<float> thr = b.thr;
        thr.push_back(0.0f); // never read; keeps the pointer valid for m = 0
        size_t smem = m <= PROBE_SMEM_THR_MAX ? m * 4 : 0;
        emu_launch({grid_blocks}, BLOCK, smem, [&] {
            keys_thr(x.data(), n, d, thr.data(), m, b.t0, b.inv, b.search, bits, per, limbs, coef,
                     glog, k1.data(), k2.data());
        });
    }
    const u32 log_cap = log2_ceil(2 * n);
    const u64 cap = 1ull << log_cap;
    std::vector<u32> rep(3 * cap, 0), cnt(3 * cap, 0);
    u32 err = 0;
    emu_launch({grid_blocks}, BLOCK, 0, [&] {
        count_insert(k1.data(), k2.data(), xl.data(), yl.data(), (u32)n, log_cap, rep.data(),
                     cnt.data(), &err);
    });
    CHECK(err == 0, "count_insert reported a full table");
    // Run-table size: distinct counts c <= kc (their sum is n), distinct group sizes kg.
    u64 kc = 0;
    while ((kc + 1) * (kc + 2) / 2 <= n) ++kc;
    auto distinct_sizes = [](std::vector<u32> g) {
        std::sort(g.begin(), g.end());
        return (u64)(std::unique(g.begin(), g.end()) - g.begin());
    };
    u64 kg = std::max<u64>({1, distinct_sizes(xg), distinct_sizes(yg)});
    u64 bound = std::min<u64>(n, kc * kg);
    const u32 log_runs = log2_ceil(2 * bound);
    const u64 R = 1ull << log_runs, H = R / 2;
    std::vector<u64> rkey(3 * R, 0), out(6 * H, 0);
    std::vector<u32> rmult(3 * R, 0), out_len(3, 0);
    emu_launch({grid_blocks}, BLOCK, 0, [&] {
        term_runs(rep.data(), cnt.data(), log_cap, (u32)n, xl.data(), yl.data(), xg.data(),
                  yg.data(), log_runs, rkey.data(), rmult.data(), &err);
    });
    CHECK(err == 0, "term_runs reported a full table");
    emu_launch({grid_blocks}, BLOCK, 0, [&] {
        compact_runs(rkey.data(), rmult.data(), log_runs, out.data(), out_len.data(), &err);
    });
    CHECK(err == 0, "compact_runs reported more runs than R/2");
    RefCounts got;
    Runs *tables[3] = {&got.t, &got.tx, &got.ty};
    for (u32 t = 0; t < 3; ++t)
        for (u32 i = 0; i < std::min<u64>(out_len[t], H); ++i) {
            u64 key = out[2 * (t * H + i)], mult = out[2 * (t * H + i) + 1];
            CHECK(!tables[t]->count({key >> 32, key & 0xffffffffu}), "run listed twice");
            (*tables[t])[{key >> 32, key & 0xffffffffu}] = mult;
        }
    return got;
}

static std::string show(const Runs &r) {
    std::string s;
    for (auto &[k, m] : r)
        s += "(" + std::to_string(k.first) + "," + std::to_string(k.second) + ")x" +
             std::to_string(m) + " ";
    return s;
}

/// The pipeline on `x` (any element type) equals the reference on its f32 values, for grids of
/// one block and of three (rows spread over blocks and over the grid-stride loop).
template <typename T>
static void check_counts(const char *name, const std::vector<T> &x, u64 n, u32 d, const Bins &b,
                         const std::vector<u32> &xl, const std::vector<u32> &yl) {
    RefCounts want = reference(widened(x), n, d, b, xl, yl);
    for (u32 grid : {1u, 3u}) {
        RefCounts got = device(x, n, d, b, xl, yl, grid);
        const char *ty = dtype(x.data());
        CHECK(got.t == want.t, "%s %s grid %u: H(T) runs %s, want %s", name, ty, grid,
              show(got.t).c_str(), show(want.t).c_str());
        CHECK(got.tx == want.tx, "%s %s grid %u: H(T|X) runs %s, want %s", name, ty, grid,
              show(got.tx).c_str(), show(want.tx).c_str());
        CHECK(got.ty == want.ty, "%s %s grid %u: H(T|Y) runs %s, want %s", name, ty, grid,
              show(got.ty).c_str(), show(want.ty).c_str());
    }
    u64 distinct = 0;
    for (auto &[k, m] : want.t) distinct += m;
    std::printf("ok  %-40s %-4s n=%llu d=%u distinct=%llu\n", name, dtype(x.data()),
                (unsigned long long)n, d, (unsigned long long)distinct);
}

template <typename T>
static void check_hist(const char *name, const std::vector<T> &x, u64 n, u32 d, const Bins &b,
                       u32 tile, u32 rows_per_block, u32 direct) {
    const std::vector<float> xf = widened(x);
    const u32 m = (u32)b.thr.size(), B = m + 2;
    std::vector<u32> want((size_t)d * B, 0), got((size_t)d * B, 0);
    for (u64 r = 0; r < n; ++r)
        for (u32 j = 0; j < d; ++j) {
            long long c = ref_bin(b, xf[r * d + j]);
            want[(size_t)j * B + (c == std::numeric_limits<long long>::min() ? m + 1 : (u32)c)]++;
        }
    std::vector<float> thr = b.thr;
    thr.push_back(0.0f);
    dim3 grid = {(d + tile - 1) / tile, (u32)((n + rows_per_block - 1) / rows_per_block), 1};
    emu_launch(grid, BLOCK, direct ? 0 : (size_t)tile * B * 4, [&] {
        hist(x.data(), n, d, thr.data(), m, b.t0, b.inv, b.search, tile, rows_per_block, direct,
             got.data());
    });
    CHECK(got == want, "%s %s: histograms differ", name, dtype(x.data()));
    std::printf("ok  %-40s %-4s n=%llu d=%u tile=%u rows=%u direct=%u\n", name, dtype(x.data()),
                (unsigned long long)n, d, tile, rows_per_block, direct);
}

// Values of other element types: f64 values next to f32 rounding boundaries and beyond the f32
// range; f16 and bf16 from every kind of bit pattern (normal, subnormal, ±0, ±inf, NaN).
static std::vector<double> f64_values(std::mt19937_64 &rng, size_t len, const Bins &b) {
    std::vector<double> special = {0.0, -0.0, NAN, INFINITY, -INFINITY, 1e39, -1e39, 1e-50, 3.5e38,
                                   -3.5e38, 1e-46, 7e-46};
    for (double e : b.ref_edges) {
        const float f = (float)e;
        const double up = next_up(f), half = ((double)f + up) / 2; // a tie: rounds to even
        special.insert(special.end(), {e, (double)f, half, std::nextafter(half, 2.0 * up),
                                       std::nextafter(half, -2.0 * up), -half});
    }
    std::uniform_real_distribution<double> u(-1.3, 1.3);
    std::vector<double> v(len);
    for (auto &x : v) x = rng() % 3 ? u(rng) : special[rng() % special.size()];
    return v;
}
template <typename H> static std::vector<H> half_values(std::mt19937_64 &rng, size_t len) {
    std::vector<H> v(len);
    for (auto &h : v) {
        const u32 kind = rng() % 4;
        // kind 0: any pattern; else a value near [-1.3, 1.3] (exponent near the bias)
        u32 bits = (u32)rng() & 0xffffu;
        if (kind != 0) {
            const bool is_f16 = sizeof(H) == 2 && std::is_same_v<H, f16_t>;
            const u32 man_bits = is_f16 ? 10 : 7, bias = is_f16 ? 15 : 127;
            const u32 exp = bias - (u32)(rng() % 6);
            bits = (bits & 0x8000u) | (exp << man_bits) | (bits & ((1u << man_bits) - 1));
        }
        h.bits = (unsigned short)bits;
    }
    return v;
}

int main() {
    std::mt19937_64 rng(7);
    auto labels = [&](u64 n, u32 k) {
        std::vector<u32> v(n);
        for (auto &l : v) l = (u32)(rng() % k) * 1000003u; // sparse ids on purpose
        return v;
    };
    auto uniform = [&](u64 n, u32 d, float lo, float hi) {
        std::uniform_real_distribution<float> u(lo, hi);
        std::vector<float> v(n * d);
        for (auto &x : v) x = u(rng);
        return v;
    };
    // The coefficients: the device kernel gives the host definition, which is the sequential
    // splitmix64 stream kernel_plan.rs used before (no rejection occurs in its first values).
    {
        device_coefficients(4096);
        const auto seq = sequential_coefficients(coef_cache.size(), KEY_SEED);
        u64 bad = 0;
        for (u64 i = 0; i < coef_cache.size(); ++i)
            bad += coef_cache[i] != seq[i] || coef_cache[i] != probe_key_coef(KEY_SEED, i) ||
                   coef_cache[i] >= PROBE_P61;
        CHECK(bad == 0, "key_coefficients: %llu of %zu differ", (unsigned long long)bad,
              coef_cache.size());
        std::printf("ok  key coefficients (%zu, device = host = sequential splitmix64)\n",
                    coef_cache.size());
    }
    const Bins idnns = fixed_bins(-1.0, 1.0, 30);
    // Random data: many distinct rows (d = 12), few (coarse values), wide rows.
    {
        auto x = uniform(700, 12, -1.2f, 1.2f);
        check_counts("fixed30 random d=12", x, 700, 12, idnns, labels(700, 700), labels(700, 2));
        std::vector<float> c(600 * 3);
        for (auto &v : c) v = (float)((int)(rng() % 5) - 2) * 0.4f;
        check_counts("fixed30 coarse d=3", c, 600, 3, idnns, labels(600, 50), labels(600, 10));
        auto w = uniform(90, 700, -1.0f, 1.0f);
        for (size_t i = 0; i < 45 * 700; ++i) w[45 * 700 + i] = w[i]; // second half repeats
        check_counts("fixed30 wide d=700", w, 90, 700, idnns, labels(90, 90), labels(90, 3));
        check_counts("floor0.07 random d=12", x, 700, 12, floor_bins(0.07), labels(700, 700),
                     labels(700, 2));
        check_counts("floor0.5 wide d=700", w, 90, 700, floor_bins(0.5), labels(90, 90),
                     labels(90, 3));
        check_counts("fixed2 (one bin) d=5", c, 360, 5, fixed_bins(-1, 1, 2), labels(360, 360),
                     labels(360, 4));
    }
    // Adversarial: all equal, all distinct, values on every edge (+- 1 ulp), NaN and inf.
    {
        std::vector<float> eq(500 * 7, 0.3f);
        check_counts("all equal", eq, 500, 7, idnns, labels(500, 500), labels(500, 2));
        std::vector<float> distinct(512 * 9);
        for (u64 r = 0; r < 512; ++r)
            for (u32 j = 0; j < 9; ++j) distinct[r * 9 + j] = ((r >> j) & 1) ? 0.9f : -0.9f;
        check_counts("all distinct (9 bits)", distinct, 512, 9, idnns, labels(512, 512),
                     labels(512, 2));
        std::vector<float> special;
        for (double e : idnns.ref_edges) {
            float f = (float)e;
            special.insert(special.end(), {f, next_up(f), -next_up(-f)});
        }
        for (float f : {-1.0f, 1.0f, 0.0f, -0.0f, NAN, -NAN, INFINITY, -INFINITY, 3e38f, -3e38f,
                        1e-45f, -1e-45f, 7e18f, -7e18f, 1e30f, 2.5e8f, 3e8f, -2.5e8f, 1e10f,
                        -1e10f, 1e12f, 4e12f})
            special.push_back(f);
        const u32 d = 4;
        const u64 n = 900;
        std::vector<float> s(n * d);
        for (auto &v : s) v = special[rng() % special.size()];
        check_counts("edges/NaN/inf fixed30", s, n, d, idnns, labels(n, n), labels(n, 3));
        check_counts("edges/NaN/inf floor0.07", s, n, d, floor_bins(0.07), labels(n, n),
                     labels(n, 3));
        check_counts("edges/NaN/inf floor1e-30", s, n, d, floor_bins(1e-30), labels(n, n),
                     labels(n, 3));
        check_counts("edges/NaN/inf fixed[-0.5,2]x7", s, n, d, fixed_bins(-0.5, 2.0, 7),
                     labels(n, n), labels(n, 3));
        // Any guess gives the exact bin: a guess of 0 (inv = 0) searches upwards, a guess far
        // above (t0 far below) downwards, a guess of the wrong scale both ways.
        Bins walk_up = fixed_bins(-1.0, 1.0, 30), walk_down = walk_up, scaled = walk_up;
        walk_up.inv = 0.0f;
        walk_down.t0 = -1e6f;
        scaled.inv *= 3.7f;
        check_counts("fixed30 guess 0", s, n, d, walk_up, labels(n, n), labels(n, 3));
        check_counts("fixed30 guess from the top", s, n, d, walk_down, labels(n, n), labels(n, 3));
        check_counts("fixed30 guess of the wrong scale", s, n, d, scaled, labels(n, n),
                     labels(n, 3));
        Bins many_fixed = fixed_bins(0.1, 0.7, 5000);
        many_fixed.inv = 0.0f; // 4998 thresholds, guess 0: a binary search, not a walk
        check_counts("fixed5000 guess 0 (global memory)", s, n, d, many_fixed, labels(n, n),
                     labels(n, 3));
        std::vector<float> e = {-1.0f, -0.25f, -0.25f, 0.0f, 0.5f, 0.5f, 0.5f, 1.0f};
        check_counts("explicit edges (repeated)", s, n, d, edge_bins(e), labels(n, n),
                     labels(n, 3));
        check_counts("explicit edges (none)", s, n, d, edge_bins({}), labels(n, n), labels(n, 3));
        std::vector<float> many;
        for (int i = 0; i < 3000; ++i) many.push_back((i - 1500) * 0.0007f);
        check_counts("explicit edges (3000, global memory)", s, n, d, edge_bins(many),
                     labels(n, n), labels(n, 3));
        // Floor bins 2^32 apart share their low limb: only the high limb tells them apart.
        std::vector<float> far;
        for (float v : {0.0f, 4294967296.0f, -4294967296.0f, 8589934592.0f, 1.0f, 4294967296.0f})
            for (int k = 0; k < 3; ++k) far.push_back(v);
        check_counts("floor1 high limbs", far, 6, 3, floor_bins(1.0), labels(6, 6), labels(6, 2));
        // repeated inputs: x labels with groups of different sizes
        std::vector<u32> xr(n);
        for (u64 r = 0; r < n; ++r) xr[r] = (u32)(r % 7 == 0 ? r : r / 5);
        check_counts("repeated x groups", s, n, d, idnns, xr, labels(n, 5));
    }
    // The other element types: every kernel instance, against the reference on the f32 values.
    {
        const u64 n = 1200;
        const u32 d = 3;
        const Bins fixed7 = fixed_bins(-0.5, 2.0, 7);
        const Bins edges = edge_bins({-1.0f, -0.25f, -0.25f, 0.0f, 0.5f, 1.0f});
        auto x64 = f64_values(rng, n * d, idnns);
        auto x16 = half_values<f16_t>(rng, n * d);
        auto xb16 = half_values<bf16_t>(rng, n * d);
        const std::pair<const char *, Bins> binnings[] = {
            {"fixed30", idnns},           {"fixed[-0.5,2]x7", fixed7},
            {"explicit edges", edges},    {"floor0.07", floor_bins(0.07)},
            {"floor1e-30", floor_bins(1e-30)}};
        for (const auto &[name, b] : binnings) {
            check_counts(name, x64, n, d, b, labels(n, n), labels(n, 3));
            check_counts(name, x16, n, d, b, labels(n, n), labels(n, 3));
            check_counts(name, xb16, n, d, b, labels(n, n), labels(n, 3));
        }
        check_hist("hist f64", f64_values(rng, 300 * 40, idnns), 300, 40, idnns, 32, 100, 0);
        check_hist("hist f16", half_values<f16_t>(rng, 300 * 40), 300, 40, idnns, 32, 100, 0);
        check_hist("hist bf16", half_values<bf16_t>(rng, 300 * 40), 300, 40, edges, 40, 300, 0);
        check_hist("hist bf16 direct", half_values<bf16_t>(rng, 300 * 40), 300, 40, idnns, 7, 64,
                   1);
    }
    // Per-neuron histograms: shared-memory tiles (a multiple of 32, partial, wider than a block,
    // narrower than a warp), direct global atomics.
    {
        auto x = uniform(1000, 300, -1.3f, 1.3f);
        for (size_t i = 0; i < x.size(); i += 13) x[i] = NAN;
        check_hist("hist fixed30 tiles of 64", x, 1000, 300, idnns, 64, 150, 0);
        check_hist("hist fixed30 tiles of 288 (> block)", x, 1000, 300, idnns, 288, 100, 0);
        check_hist("hist fixed30 tiles of 16", x, 200, 300, idnns, 16, 300, 0);
        check_hist("hist fixed30 one tile, 37 columns", x, 1000, 37, idnns, 37, 1000, 0);
        check_hist("hist fixed30 direct", x, 1000, 37, idnns, 5, 128, 1);
        check_hist("hist explicit edges", x, 1000, 37,
                   edge_bins({-1.0f, -0.5f, -0.5f, 0.0f, 0.25f, 1.0f}), 8, 500, 0);
    }
    // Scalar helpers: mulmod against 128-bit arithmetic, f16 conversion against the definition.
    {
        for (int i = 0; i < 100000; ++i) {
            u32 limb = (u32)rng();
            u64 coef = (rng() >> 3) % PROBE_P61;
            unsigned __int128 want = ((unsigned __int128)limb * coef) % PROBE_P61;
            u64 acc = (rng() >> 3) % PROBE_P61;
            unsigned __int128 want_acc = (acc + want) % PROBE_P61;
            CHECK(probe_mod61(probe_mul_limb(limb, coef)) == (u64)want, "mulmod %u * %llu", limb,
                  (unsigned long long)coef);
            CHECK(probe_mod61(probe_acc(acc, probe_mul_limb(limb, coef))) == (u64)want_acc,
                  "acc");
        }
        CHECK(probe_mul_limb(0xffffffffu, PROBE_P61 - 1) < (1ull << 62) + (1ull << 33), "bound");
        int bad = 0;
        for (u32 h = 0; h < 65536; ++h) {
            float f = probe_f16_to_f32((unsigned short)h);
            u32 e = (h >> 10) & 31, m = h & 1023;
            double want = e == 0 ? std::ldexp((double)m, -24)
                                 : e == 31 ? (m ? NAN : INFINITY)
                                           : std::ldexp(1.0 + m / 1024.0, (int)e - 15);
            if (h & 0x8000) want = -want;
            bool ok = std::isnan(want) ? std::isnan(f) : (double)f == want && std::signbit(f) == std::signbit(want);
            bad += !ok;
        }
        CHECK(bad == 0, "f16 conversion: %d of 65536 wrong", bad);
        std::printf("ok  scalar helpers (mulmod, f16)\n");
    }
    if (failures) {
        std::printf("%d FAILURES\n", failures);
        return 1;
    }
    std::printf("all kernel checks passed\n");
    return 0;
}
