// The host side of probe's kernels (as crates/probe-estimators/src/kernel_plan.rs prepares their
// inputs) and the independent reference the emulated kernels are checked against: bins from the
// f64 edges / floor(x / width), rows grouped with std::map. Included by check.cpp only.
#pragma once
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <string>
#include <vector>

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
// The first coefficients as kernel_plan.rs defined them before they were generated on the device
// (a sequential splitmix64 stream with rejection): probe_key_coef must give the same values.
static std::vector<u64> sequential_coefficients(size_t count, uint64_t seed) {
    std::vector<u64> c(count);
    for (auto &v : c) {
        do {
            uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            v = (z ^ (z >> 31)) >> 3;
        } while (v >= PROBE_P61);
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

