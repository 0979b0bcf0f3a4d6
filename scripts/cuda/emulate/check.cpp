// Runs probe's CUDA kernels (kernels/*.cu, compiled as C++ against emu.h) on the CPU and compares
// every count with an independent reference computed here from the definitions: bins from the f64
// edges / floor(x / width), rows grouped with std::map. Exits non-zero on the first mismatch.
// Build and run: bash scripts/cuda/emulate.sh
#include "binned_keys.cu"
#include "distinct_counts.cu"
#include "neuron_hist.cu"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
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

// ---- the host side, as crates/probe-estimators/src/kernel_plan.rs does it ----------------------

static float next_up(float f) {
    if (std::isnan(f) || f == INFINITY) return f;
    if (f == 0.0f) return std::numeric_limits<float>::denorm_min();
    uint32_t b;
    std::memcpy(&b, &f, 4);
    b = f > 0 ? b + 1 : b - 1;
    std::memcpy(&f, &b, 4);
    return f;
}
static float ceil_f32(double e) {
    float t = (float)e;
    if ((double)t < e) t = next_up(t);
    return t;
}
static uint64_t splitmix(uint64_t &s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static std::vector<u64> coefficients(size_t limbs, uint64_t seed) {
    std::vector<u64> c(2 * limbs);
    for (auto &v : c) {
        do v = splitmix(seed) >> 3;
        while (v >= PROBE_P61);
    }
    return c;
}
static u32 log2_ceil(u64 v) {
    u32 l = 0;
    while ((1ull << l) < v) ++l;
    return l;
}

struct Bins { // either thresholds (edges of a Fixed binning, or explicit f32 edges) or floor
    bool floor = false;
    double width = 0;
    std::vector<double> ref_edges; // what the reference counts (<= x in f64)
    std::vector<float> thr;
    float t0 = 0, inv = 0;
    u32 search = 0;
};

static Bins fixed_bins(double lo, double hi, int edges) {
    Bins b;
    double step = (hi - lo) / (edges - 1);
    for (int i = 1; i <= edges - 2; ++i) b.ref_edges.push_back(lo + i * step);
    for (double e : b.ref_edges) b.thr.push_back(ceil_f32(e));
    b.t0 = (float)lo;
    b.inv = (float)(1.0 / step);
    return b;
}
static Bins edge_bins(std::vector<float> edges) {
    Bins b;
    for (float e : edges) b.ref_edges.push_back(e);
    b.thr = edges;
    b.search = 1;
    return b;
}
static Bins floor_bins(double w) {
    Bins b;
    b.floor = true;
    b.width = w;
    return b;
}

// ---- the reference ------------------------------------------------------------------------------

static long long ref_bin(const Bins &b, float x) {
    if (std::isnan(x)) return std::numeric_limits<long long>::min();
    double xd = x;
    if (b.floor) {
        if (xd == INFINITY) return std::numeric_limits<long long>::max();
        if (xd == -INFINITY) return std::numeric_limits<long long>::min() + 1;
        long double q = (long double)(xd / b.width);
        long double f = std::floor(q);
        if (f >= 9223372036854775807.0L) return std::numeric_limits<long long>::max() - 1;
        if (f <= -9223372036854775808.0L) return std::numeric_limits<long long>::min() + 2;
        return (long long)f;
    }
    long long c = 0;
    for (double e : b.ref_edges) c += e <= xd;
    return c;
}

typedef std::map<std::pair<u64, u64>, u64> Runs; // (c, g) -> multiplicity

struct RefCounts {
    Runs t, tx, ty;
};

static RefCounts reference(const std::vector<float> &x, u64 n, u32 d, const Bins &b,
                           const std::vector<u32> &xl, const std::vector<u32> &yl) {
    std::map<std::vector<long long>, u64> t;
    std::map<std::pair<std::vector<long long>, u32>, u64> tx, ty;
    std::map<u32, u64> gx, gy;
    for (u64 r = 0; r < n; ++r) {
        std::vector<long long> row(d);
        for (u32 j = 0; j < d; ++j) row[j] = ref_bin(b, x[r * d + j]);
        ++t[row];
        ++tx[{row, xl[r]}];
        ++ty[{row, yl[r]}];
        ++gx[xl[r]];
        ++gy[yl[r]];
    }
    RefCounts out;
    for (auto &[k, c] : t) ++out.t[{c, n}];
    for (auto &[k, c] : tx) ++out.tx[{c, gx[k.second]}];
    for (auto &[k, c] : ty) ++out.ty[{c, gy[k.second]}];
    return out;
}

// ---- the device pipeline, emulated --------------------------------------------------------------

static const dim3 BLOCK = {64, 1, 1}; // 256 on a GPU; 64 keeps the emulation light

static RefCounts device(const std::vector<float> &x, u64 n, u32 d, const Bins &b,
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
        auto coef = coefficients(2 * (size_t)d, 42);
        emu_launch({grid_blocks}, BLOCK, 0, [&] {
            row_keys_floor_f32(x.data(), n, d, b.width, coef.data(), glog, k1.data(), k2.data());
        });
    } else {
        const u32 m = (u32)b.thr.size();
        const u32 bits = std::max<u32>(1, log2_ceil((u64)m + 2));
        const u32 per = 32 / bits;
        const u32 limbs = (d + per - 1) / per;
        auto coef = coefficients(limbs, 42);
        std::vector<float> thr = b.thr;
        thr.push_back(0.0f); // never read; keeps the pointer valid for m = 0
        size_t smem = m <= PROBE_SMEM_THR_MAX ? m * 4 : 0;
        emu_launch({grid_blocks}, BLOCK, smem, [&] {
            row_keys_thr_f32(x.data(), n, d, thr.data(), m, b.t0, b.inv, b.search, bits, per, limbs,
                             coef.data(), glog, k1.data(), k2.data());
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
    const u64 R = 1ull << log_runs;
    std::vector<u64> rkey(3 * R, 0), out(6 * R, 0);
    std::vector<u32> rmult(3 * R, 0), out_len(3, 0);
    emu_launch({grid_blocks}, BLOCK, 0, [&] {
        term_runs(rep.data(), cnt.data(), log_cap, (u32)n, xl.data(), yl.data(), xg.data(),
                  yg.data(), log_runs, rkey.data(), rmult.data(), &err);
    });
    CHECK(err == 0, "term_runs reported a full table");
    emu_launch({grid_blocks}, BLOCK, 0, [&] {
        compact_runs(rkey.data(), rmult.data(), log_runs, out.data(), out_len.data());
    });
    RefCounts got;
    Runs *tables[3] = {&got.t, &got.tx, &got.ty};
    for (u32 t = 0; t < 3; ++t)
        for (u32 i = 0; i < out_len[t]; ++i) {
            u64 key = out[2 * (t * R + i)], mult = out[2 * (t * R + i) + 1];
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

static void check_counts(const char *name, const std::vector<float> &x, u64 n, u32 d,
                         const Bins &b, const std::vector<u32> &xl, const std::vector<u32> &yl) {
    RefCounts want = reference(x, n, d, b, xl, yl);
    for (u32 grid : {1u, 3u}) {
        RefCounts got = device(x, n, d, b, xl, yl, grid);
        CHECK(got.t == want.t, "%s grid %u: H(T) runs %s, want %s", name, grid, show(got.t).c_str(),
              show(want.t).c_str());
        CHECK(got.tx == want.tx, "%s grid %u: H(T|X) runs %s, want %s", name, grid,
              show(got.tx).c_str(), show(want.tx).c_str());
        CHECK(got.ty == want.ty, "%s grid %u: H(T|Y) runs %s, want %s", name, grid,
              show(got.ty).c_str(), show(want.ty).c_str());
    }
    std::printf("ok  %-40s n=%llu d=%u distinct=%zu\n", name, (unsigned long long)n, d,
                (size_t)[&] { u64 s = 0; for (auto &[k, m] : want.t) s += m; return s; }());
}

static void check_hist(const char *name, const std::vector<float> &x, u64 n, u32 d,
                       const Bins &b, u32 tile, u32 rows_per_block, u32 direct) {
    const u32 m = (u32)b.thr.size(), B = m + 2;
    std::vector<u32> want((size_t)d * B, 0), got((size_t)d * B, 0);
    for (u64 r = 0; r < n; ++r)
        for (u32 j = 0; j < d; ++j) {
            long long c = ref_bin(b, x[r * d + j]);
            want[(size_t)j * B + (c == std::numeric_limits<long long>::min() ? m + 1 : (u32)c)]++;
        }
    std::vector<float> thr = b.thr;
    thr.push_back(0.0f);
    dim3 grid = {(d + tile - 1) / tile, (u32)((n + rows_per_block - 1) / rows_per_block), 1};
    emu_launch(grid, BLOCK, direct ? 0 : (size_t)tile * B * 4, [&] {
        neuron_hist_f32(x.data(), n, d, thr.data(), m, b.t0, b.inv, b.search, tile, rows_per_block,
                        direct, got.data());
    });
    CHECK(got == want, "%s: histograms differ", name);
    std::printf("ok  %-40s n=%llu d=%u tile=%u rows=%u direct=%u\n", name,
                (unsigned long long)n, d, tile, rows_per_block, direct);
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
        // Any guess gives the exact bin: a guess of 0 (inv = 0) walks all the way up, a guess far
        // above (t0 far below) walks all the way down.
        Bins walk_up = fixed_bins(-1.0, 1.0, 30), walk_down = walk_up;
        walk_up.inv = 0.0f;
        walk_down.t0 = -1e6f;
        check_counts("fixed30 walk from 0", s, n, d, walk_up, labels(n, n), labels(n, 3));
        check_counts("fixed30 walk from the top", s, n, d, walk_down, labels(n, n), labels(n, 3));
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
    // Per-neuron histograms: shared-memory tiles, partial tiles, direct global atomics.
    {
        auto x = uniform(1000, 37, -1.3f, 1.3f);
        for (size_t i = 0; i < x.size(); i += 13) x[i] = NAN;
        check_hist("hist fixed30 tiles of 16", x, 1000, 37, idnns, 16, 300, 0);
        check_hist("hist fixed30 one tile", x, 1000, 37, idnns, 37, 1000, 0);
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
