/* A hand-fused C version of the engine's month loop, for benchmarks/fused_c.py only.
 *
 * It answers one question with a measurement: how close to the cost of its own random numbers
 * can the default scenario's model run on this CPU when nothing is left to a compiler of array
 * programs? Months run in a loop inside the kernel over a tile of futures whose whole state stays
 * in L1/L2, the monthly shocks are drawn in the same loop (threefry2x32 on the counter pair
 * (future index, month), the bits of mcengine.random), and the per-month histograms, extremes and
 * per-future aggregates are reduced in place.
 *
 * It covers the parts the default scenario switches on (debt, replacements bought back, tax,
 * correlated price and demand shocks, generation arrivals); fused_c.py refuses other scenarios.
 * Per-future inputs come in from JAX (``Economy``, one row per field), so the C kernel starts
 * where mcengine.model.kernel's month loop starts.
 *
 * ``stage`` switches work on, one part at a time (the rows of the benchmark):
 *   0  the draws alone (2 normals and a uniform per future-month, and a uniform per uncertain
 *      input per future, as benchmarks/prng.py counts them; folded into a sum),
 *   1  + the month step (the economics),
 *   2  + the per-month histogram (4096 bins), minimum and maximum of V_m,
 *   3  + the per-future aggregates of the engine (NPV, margin and spend histograms, event
 *        histograms, sensitivity deciles and rank sums, per-block sums).
 *
 * Build: gcc -O3 -march=native -ffast-math -fopenmp -shared -fPIC (fast-math lets glibc's
 * libmvec vectorise expf/logf/erff over futures).
 */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TILE 512
#define MONTH_BINS 4096
#define SCALAR_BINS 16384
#define DECILES 10
#define KNOTS 1025 /* 2^10 + 1: the binary search below takes 10 steps */
#define BLOCK 1024
#define MAX_INPUTS 32
#define MAX_TERMS 8 /* the Poisson CDF terms, padded with 2 (never below u) */

/* Economy fields, in the order fused_c.py stacks them. */
enum {
    F_DRIFT_P, F_SIG_P, F_JUMP_P_GEN, F_DRIFT_D, F_SIG_D, F_JUMP_D_GEN, F_G, F_LOG_S, F_UNITS,
    F_LOG_GAIN, F_MAX_U, F_REV_KEEP, F_IDLE, F_ENERGY_RATE, F_LOG_ELEC, F_COLOC_RATE,
    F_LOG_COLOC, F_STAFF, F_MAINT, F_GPU_PRICE, F_PRICE0, F_I_MONTH, F_PAYMENT, F_DEP_HW,
    F_DEP_FAC, F_TAX_RATE, F_LOG_DISC, F_SALVAGE, F_LAM_GEN, F_MONTH0, F_LOG_P0, F_LOG_D0, F_L,
    F_TRAINING, F_K, NF
};

typedef struct {
    int32_t n, T, dep_months, fac_months, term, terms_gen, stage, k;
    uint32_t key_shocks[2], key_arrivals[2];
    float rho, shift;
    const uint32_t *index;  /* n */
    const float *econ;      /* NF x n */
    const float *scores;    /* k x n normal scores of the inputs (stage 3) */
    const float *month_map; /* 4 x (T + 1): center, scale, start, inv_width */
    const float *scalar_map;/* 4 x 3 */
    const float *knots;     /* KNOTS NPV quantiles (rank transform) */
    const float *decile_edges; /* DECILES - 1 */
    /* outputs */
    float *npv;
    int32_t *breakeven, *payback;
    int32_t *month_counts;  /* (T + 1) x MONTH_BINS */
    float *month_min, *month_max; /* T + 1 */
    int32_t *scalar_counts; /* 3 x SCALAR_BINS */
    float *scalar_lower, *scalar_upper; /* 3 x SCALAR_BINS */
    int32_t *event_counts;  /* 2 x (T + 2) */
    int32_t *decile_counts, *decile_recouped; /* k x DECILES */
    float *sums;            /* (n / BLOCK) x ncol */
    int32_t ncol;
    double *checksum;       /* stage 0: the sum of every draw */
} Job;

static inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline void threefry(uint32_t k0, uint32_t k1, uint32_t x0, uint32_t x1, uint32_t *o0,
                            uint32_t *o1) {
    const uint32_t k2 = k0 ^ k1 ^ 0x1BD11BDAu;
    const uint32_t ks[3] = {k0, k1, k2};
    static const int rot[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
    x0 += k0;
    x1 += k1;
    for (int g = 0; g < 5; g++) {
        for (int r = 0; r < 4; r++) {
            x0 += x1;
            x1 = rotl(x1, rot[g & 1][r]) ^ x0;
        }
        x0 += ks[(g + 1) % 3];
        x1 += ks[(g + 2) % 3] + (uint32_t)(g + 1);
    }
    *o0 = x0;
    *o1 = x1;
}

static inline float open_unit(uint32_t w) { return ((float)(w >> 9) + 0.5f) * 0x1p-23f; }

/* sqrt(2) erfinv(2u - 1): Giles' single-precision erfinv, both branches then a select. */
static inline float normal_of(float u) {
    float x = 2.0f * u - 1.0f;
    float w = -logf((1.0f - x) * (1.0f + x));
    float a = w - 2.5f;
    float p = 2.81022636e-08f;
    p = 3.43273939e-07f + p * a;
    p = -3.5233877e-06f + p * a;
    p = -4.39150654e-06f + p * a;
    p = 0.00021858087f + p * a;
    p = -0.00125372503f + p * a;
    p = -0.00417768164f + p * a;
    p = 0.246640727f + p * a;
    p = 1.50140941f + p * a;
    float b = sqrtf(w) - 3.0f;
    float q = -0.000200214257f;
    q = 0.000100950558f + q * b;
    q = 0.00134934322f + q * b;
    q = -0.00367342844f + q * b;
    q = 0.00573950773f + q * b;
    q = -0.0076224613f + q * b;
    q = 0.00943887047f + q * b;
    q = 1.00167406f + q * b;
    q = 2.83297682f + q * b;
    return 1.41421356f * (w < 5.0f ? p : q) * x;
}

/* bin of x when bins are uniform in symlog((x - c) / s) (mcengine.accumulators.bin_index) */
static inline int symlog_bin(float x, float c, float s, float start, float inv, int bins) {
    float t = (x - c) / s;
    float y = copysignf(logf(1.0f + fabsf(t)), t);
    float pos = (y - start) * inv;
    pos = fminf(fmaxf(pos, 0.0f), (float)(bins - 1));
    return (int)pos;
}

static inline float geometric(float x, int n) { /* sum_{m=1..n} exp(m x) */
    if (x == 0.0f) return (float)n;
    return expf(x) * expm1f(n * x) / expm1f(x);
}

/* Per-thread accumulators of the aggregates that are merged after the loop. */
typedef struct {
    int32_t *month_counts;
    float *month_min, *month_max;
    int32_t *scalar_counts;
    float *scalar_lower, *scalar_upper;
    int32_t *event_counts, *decile_counts, *decile_recouped;
    double checksum;
} Local;

#define E(f) (econ + (size_t)(f) * n + base)

/* One tile of futures through all T months. Always inlined with a constant ``stage``, so every
 * stage compiles to its own loop with no tests of the stage inside it. */
static inline __attribute__((always_inline)) void tile_months(const Job *J, Local *L, int64_t base,
                                                              int count, float *ring, const int stage) {
    const int T = J->T, n = J->n, dep = J->dep_months;
    const float *econ = J->econ;
    const uint32_t *index = J->index + base;
    const float rho = J->rho, rho_c = sqrtf(1.0f - J->rho * J->rho);
    float log_p[TILE], log_d[TILE], cum_disc[TILE], cum[TILE], balance[TILE], loss[TILE];
    float window[TILE], pv_rev[TILE], pv_en[TILE], pv_repl[TILE], revenue_sum[TILE];
    float margin[TILE], disc[TILE], gain[TILE], elec[TILE], coloc[TILE], acc[TILE];
    /* per-future constants of the month step, hoisted out of the month loop */
    float f_gain[TILE], f_elec[TILE], f_coloc[TILE], f_disc[TILE], repl_per_price[TILE];
    float inv_cap0[TILE], cap0[TILE], energy0[TILE], upkeep[TILE];
    float cdf[MAX_TERMS][TILE];
    int32_t be[TILE], pb[TILE], bins[TILE];
    const float *drift_p = E(F_DRIFT_P), *sig_p = E(F_SIG_P), *jump_p = E(F_JUMP_P_GEN);
    const float *drift_d = E(F_DRIFT_D), *sig_d = E(F_SIG_D), *jump_d = E(F_JUMP_D_GEN);
    const float *G = E(F_G), *log_s = E(F_LOG_S), *units = E(F_UNITS), *max_u = E(F_MAX_U);
    const float *keep = E(F_REV_KEEP), *idle = E(F_IDLE), *erate = E(F_ENERGY_RATE);
    const float *crate = E(F_COLOC_RATE), *staff = E(F_STAFF), *maint = E(F_MAINT);
    const float *gpu_price = E(F_GPU_PRICE), *price0 = E(F_PRICE0), *i_month = E(F_I_MONTH);
    const float *payment = E(F_PAYMENT), *dep_hw = E(F_DEP_HW), *dep_fac = E(F_DEP_FAC);
    const float *tax_rate = E(F_TAX_RATE), *salvage = E(F_SALVAGE), *lam = E(F_LAM_GEN);
    const float *log_gain = E(F_LOG_GAIN), *log_elec = E(F_LOG_ELEC);
    const float *log_coloc = E(F_LOG_COLOC), *log_disc = E(F_LOG_DISC);
    const float *month0 = E(F_MONTH0);
    const uint32_t ks0 = J->key_shocks[0], ks1 = J->key_shocks[1];
    const uint32_t ka0 = J->key_arrivals[0], ka1 = J->key_arrivals[1];
    const int terms = J->terms_gen;

    for (int i = 0; i < count; i++) {
        log_p[i] = E(F_LOG_P0)[i];
        log_d[i] = E(F_LOG_D0)[i];
        cum_disc[i] = cum[i] = month0[i];
        balance[i] = E(F_L)[i];
        loss[i] = E(F_TRAINING)[i];
        window[i] = pv_rev[i] = pv_en[i] = pv_repl[i] = revenue_sum[i] = margin[i] = 0.0f;
        disc[i] = gain[i] = elec[i] = coloc[i] = 1.0f;
        acc[i] = 0.0f;
        f_gain[i] = expf(log_gain[i]);
        f_elec[i] = expf(log_elec[i]);
        f_coloc[i] = expf(log_coloc[i]);
        f_disc[i] = expf(-log_disc[i]);
        repl_per_price[i] = G[i] * (-expm1f(log_s[i])) * gpu_price[i] / price0[i];
        cap0[i] = G[i] * units[i];
        inv_cap0[i] = 1.0f / cap0[i];
        energy0[i] = G[i] * erate[i];
        upkeep[i] = staff[i] + G[i] * maint[i];
        be[i] = pb[i] = T + 1;
        float p = expf(-lam[i]), c = p; /* the Poisson CDF is fixed for a future */
        for (int t = 0; t < MAX_TERMS; t++) {
            cdf[t][i] = t < terms ? c : 2.0f;
            p = p * lam[i] / (float)(t + 1);
            c += p;
        }
    }
    if (stage >= 2) { /* month 0: V_0 */
        for (int i = 0; i < count; i++)
            bins[i] = symlog_bin(month0[i], J->month_map[0], J->month_map[T + 1],
                                 J->month_map[2 * (T + 1)], J->month_map[3 * (T + 1)], MONTH_BINS);
        for (int i = 0; i < count; i++) {
            L->month_counts[bins[i]]++;
            L->month_min[0] = fminf(L->month_min[0], month0[i]);
            L->month_max[0] = fmaxf(L->month_max[0], month0[i]);
        }
    }

    for (int m = 1; m <= T; m++) {
        float *slot = ring + (size_t)((m - 1) % dep) * TILE;
        const int in_dep = m <= dep, in_fac = m <= J->fac_months, paying = m <= J->term;
        const int last = m == T;
        const float c0 = J->month_map[m], s0 = J->month_map[(T + 1) + m];
        const float st = J->month_map[2 * (T + 1) + m], iw = J->month_map[3 * (T + 1) + m];
        float lo = INFINITY, hi = -INFINITY;
#pragma omp simd reduction(min : lo) reduction(max : hi)
        for (int i = 0; i < count; i++) {
            uint32_t a0, a1, b0, b1;
            threefry(ks0, ks1, index[i], (uint32_t)m, &a0, &a1);
            threefry(ka0, ka1, index[i], (uint32_t)m, &b0, &b1);
            const float z = normal_of(open_unit(a0));
            const float w = rho * z + rho_c * normal_of(open_unit(a1));
            const float u = open_unit(b0);
            float n_gen = 0.0f;
            for (int t = 0; t < MAX_TERMS; t++) n_gen += u > cdf[t][i] ? 1.0f : 0.0f;
            if (stage == 0) {
                acc[i] += z + w + u;
                continue;
            }
            log_p[i] += drift_p[i] + sig_p[i] * z + n_gen * jump_p[i];
            log_d[i] += drift_d[i] + sig_d[i] * w + n_gen * jump_d[i];
            gain[i] *= f_gain[i];
            elec[i] *= f_elec[i];
            coloc[i] *= f_coloc[i];
            disc[i] *= f_disc[i];
            const float price = expf(log_p[i]), demand = expf(log_d[i]);
            const float util = fminf(max_u[i], demand * inv_cap0[i] / gain[i]);
            const float sold = util * cap0[i] * gain[i];
            const float revenue = sold * price * keep[i];
            const float energy = (idle[i] + (1.0f - idle[i]) * util) * energy0[i] * elec[i];
            const float col = crate[i] * coloc[i];
            const float opex = energy + col + upkeep[i];
            const float repl = repl_per_price[i] * price;
            const float interest = paying ? balance[i] * i_month[i] : 0.0f;
            const float debt = paying ? payment[i] : 0.0f;
            balance[i] -= debt - interest;
            const float leaving = m > dep ? slot[i] : 0.0f;
            const float depreciation = (in_dep ? dep_hw[i] : 0.0f) + (in_fac ? dep_fac[i] : 0.0f)
                                       + window[i] / (float)dep;
            window[i] += repl - leaving;
            slot[i] = repl;
            const float y = revenue - opex - depreciation - interest - loss[i];
            const float tax = tax_rate[i] * fmaxf(0.0f, y);
            loss[i] = fmaxf(0.0f, -y);
            const float cash = revenue - opex - repl - debt - tax;
            const float cd = cum_disc[i] + cash * disc[i] + (last ? salvage[i] * disc[i] : 0.0f);
            const float cu = cum[i] + cash + (last ? salvage[i] : 0.0f);
            cum_disc[i] = cd;
            cum[i] = cu;
            be[i] = (be[i] > T && cd >= 0.0f) ? m : be[i];
            pb[i] = (pb[i] > T && cu >= 0.0f) ? m : pb[i];
            pv_rev[i] += revenue * disc[i];
            pv_en[i] += energy * disc[i];
            pv_repl[i] += repl * disc[i];
            revenue_sum[i] += revenue;
            margin[i] += revenue - opex - depreciation;
            if (stage >= 2) {
                bins[i] = symlog_bin(cd, c0, s0, st, iw, MONTH_BINS);
                lo = fminf(lo, cd);
                hi = fmaxf(hi, cd);
            }
        }
        if (stage >= 2) {
            int32_t *row = L->month_counts + (size_t)m * MONTH_BINS;
            for (int i = 0; i < count; i++) row[bins[i]]++;
            L->month_min[m] = fminf(L->month_min[m], lo);
            L->month_max[m] = fmaxf(L->month_max[m], hi);
        }
    }

    if (stage == 0) {
        /* the limit's other part: one uniform per uncertain input per future, as prng.py draws */
#pragma omp simd
        for (int i = 0; i < count; i++) {
            for (int c = 0; c < (J->k + 1) / 2; c++) {
                uint32_t w0, w1;
                threefry(ka0, ka1, index[i], (uint32_t)c, &w0, &w1);
                acc[i] += open_unit(w0) + open_unit(w1);
            }
        }
        double s = 0.0;
        for (int i = 0; i < count; i++) s += acc[i];
        L->checksum += s;
        return;
    }
    for (int i = 0; i < count; i++) {
        J->npv[base + i] = cum_disc[i];
        J->breakeven[base + i] = be[i];
        J->payback[base + i] = pb[i];
    }
    if (stage < 3) return;

    /* per-future aggregates, as in mcengine/chunk.py; a tile lies inside one sum block */
    const int k = J->k, ncol = J->ncol;
    float *row = J->sums + (size_t)(base / BLOCK) * ncol;
    float dev[TILE], wgt[TILE], gq[TILE], pv[11][TILE];
    int32_t dec[TILE], rec[TILE];
    const float *knots = J->knots;
#pragma omp simd
    for (int i = 0; i < count; i++) {
        wgt[i] = index[i] < (uint32_t)n ? 1.0f : 0.0f;
        dev[i] = (cum_disc[i] - J->shift) * wgt[i];
        rec[i] = be[i] <= T && wgt[i] > 0.0f;
        /* the waterfall: path-dependent PVs accumulated, the deterministic ones in closed form */
        const float ld = log_disc[i];
        const float pv_col = crate[i] * geometric(log_coloc[i] - ld, T);
        const float pv_up = upkeep[i] * geometric(-ld, T);
        const float pv_debt = payment[i] * geometric(-ld, J->term < T ? J->term : T);
        const float salvage_pv = salvage[i] * expf(-T * ld);
        const float loan = E(F_L)[i] - pv_debt, upfront = -E(F_K)[i];
        pv[0][i] = pv_rev[i], pv[1][i] = -pv_en[i], pv[2][i] = -pv_col, pv[3][i] = -pv_up;
        pv[4][i] = pv[5][i] = 0.0f, pv[6][i] = -pv_repl[i], pv[7][i] = loan;
        pv[8][i] = cum_disc[i] - (pv_rev[i] - pv_en[i] - pv_col - pv_up - pv_repl[i] + loan)
                   - (upfront + salvage_pv);
        pv[9][i] = upfront, pv[10][i] = salvage_pv;
    }
#pragma omp simd
    for (int i = 0; i < count; i++) { /* rank transform of the NPV: its quantile knots, */
        const float x = cum_disc[i];   /* found by a branch-free binary search */
        int lo = 0;
        lo += knots[lo + 512] <= x ? 512 : 0;
        lo += knots[lo + 256] <= x ? 256 : 0;
        lo += knots[lo + 128] <= x ? 128 : 0;
        lo += knots[lo + 64] <= x ? 64 : 0;
        lo += knots[lo + 32] <= x ? 32 : 0;
        lo += knots[lo + 16] <= x ? 16 : 0;
        lo += knots[lo + 8] <= x ? 8 : 0;
        lo += knots[lo + 4] <= x ? 4 : 0;
        lo += knots[lo + 2] <= x ? 2 : 0;
        lo += knots[lo + 1] <= x ? 1 : 0;
        lo = lo > KNOTS - 2 ? KNOTS - 2 : lo;
        const float span = knots[lo + 1] - knots[lo];
        const float frac = span > 0.0f ? fminf(fmaxf((x - knots[lo]) / span, 0.0f), 1.0f) : 0.0f;
        gq[i] = (lo + frac) / (float)(KNOTS - 1);
    }
    for (int i = 0; i < count; i++) { /* scatters: histograms of NPV, margin, spend, events */
        const float rev = revenue_sum[i];
        const float gm = rev > 0.0f ? margin[i] / rev : -INFINITY;
        const float spend = rev > 0.0f ? (rev - cum[i] + salvage[i]) / rev : INFINITY;
        const float xs[3] = {cum_disc[i], gm, spend};
        for (int j = 0; j < 3; j++) {
            const float *sm = J->scalar_map;
            const int b = symlog_bin(xs[j], sm[j], sm[3 + j], sm[6 + j], sm[9 + j], SCALAR_BINS);
            L->scalar_counts[j * SCALAR_BINS + b]++;
            float *lo = L->scalar_lower + j * SCALAR_BINS + b, *up = L->scalar_upper + j * SCALAR_BINS + b;
            *lo = fminf(*lo, xs[j]);
            *up = fmaxf(*up, xs[j]);
        }
        L->event_counts[be[i]]++;
        L->event_counts[(T + 2) + pb[i]]++;
    }
    float s_dev = 0, s_dev2 = 0, s_rec = 0, s_g = 0, s_gg = 0;
#pragma omp simd reduction(+ : s_dev, s_dev2, s_rec, s_g, s_gg)
    for (int i = 0; i < count; i++) {
        s_dev += dev[i], s_dev2 += dev[i] * dev[i], s_rec += rec[i];
        s_g += gq[i] * wgt[i], s_gg += gq[i] * gq[i] * wgt[i];
    }
    row[0] += s_dev, row[1] += s_dev2, row[2] += s_rec;
    for (int j = 0; j < 11; j++) {
        float s = 0;
#pragma omp simd reduction(+ : s)
        for (int i = 0; i < count; i++) s += pv[j][i] * wgt[i];
        row[3 + j] += s;
    }
    float *dec_npv = row + 14, *us = dec_npv + k * DECILES, *ug = us + k, *uu = ug + k;
    float edges[DECILES - 1];
    for (int q = 0; q < DECILES - 1; q++) edges[q] = J->decile_edges[q];
    for (int j = 0; j < k; j++) { /* sensitivity: deciles and rank sums of each input */
        const float *score = J->scores + (size_t)j * n + base;
        float su = 0, sug = 0, suu = 0;
#pragma omp simd reduction(+ : su, sug, suu)
        for (int i = 0; i < count; i++) {
            const float sc = score[i];
            int d = 0;
            for (int q = 0; q < DECILES - 1; q++) d += sc >= edges[q];
            dec[i] = d;
            const float uj = (0.5f + 0.5f * erff(sc * 0.70710678f)) * wgt[i];
            su += uj, sug += uj * gq[i], suu += uj * uj;
        }
        us[j] += su, ug[j] += sug, uu[j] += suu;
        for (int d = 0; d < DECILES; d++) {
            float s = 0;
            int c = 0, r = 0;
#pragma omp simd reduction(+ : s, c, r)
            for (int i = 0; i < count; i++) {
                const int here = dec[i] == d;
                s += here ? dev[i] : 0.0f;
                c += here && wgt[i] > 0.0f;
                r += here && rec[i];
            }
            dec_npv[j * DECILES + d] += s;
            L->decile_counts[j * DECILES + d] += c;
            L->decile_recouped[j * DECILES + d] += r;
        }
    }
    uu[k] += s_g, uu[k + 1] += s_gg;
}

static void run_tile(const Job *J, Local *L, int64_t base, int count, float *ring) {
    switch (J->stage) {
    case 0: tile_months(J, L, base, count, ring, 0); break;
    case 1: tile_months(J, L, base, count, ring, 1); break;
    case 2: tile_months(J, L, base, count, ring, 2); break;
    default: tile_months(J, L, base, count, ring, 3); break;
    }
}

static void local_init(Local *L, const Job *J) {
    const int T = J->T, k = J->k;
    L->month_counts = calloc((size_t)(T + 1) * MONTH_BINS, sizeof(int32_t));
    L->month_min = malloc((T + 1) * sizeof(float));
    L->month_max = malloc((T + 1) * sizeof(float));
    for (int m = 0; m <= T; m++) L->month_min[m] = INFINITY, L->month_max[m] = -INFINITY;
    L->scalar_counts = calloc(3 * SCALAR_BINS, sizeof(int32_t));
    L->scalar_lower = malloc(3 * SCALAR_BINS * sizeof(float));
    L->scalar_upper = malloc(3 * SCALAR_BINS * sizeof(float));
    for (int b = 0; b < 3 * SCALAR_BINS; b++) L->scalar_lower[b] = INFINITY, L->scalar_upper[b] = -INFINITY;
    L->event_counts = calloc(2 * (T + 2), sizeof(int32_t));
    L->decile_counts = calloc((size_t)k * DECILES, sizeof(int32_t));
    L->decile_recouped = calloc((size_t)k * DECILES, sizeof(int32_t));
    L->checksum = 0.0;
}

static void local_merge(const Local *L, Job *J) {
    const int T = J->T, k = J->k;
    for (size_t b = 0; b < (size_t)(T + 1) * MONTH_BINS; b++) J->month_counts[b] += L->month_counts[b];
    for (int m = 0; m <= T; m++) {
        J->month_min[m] = fminf(J->month_min[m], L->month_min[m]);
        J->month_max[m] = fmaxf(J->month_max[m], L->month_max[m]);
    }
    for (int b = 0; b < 3 * SCALAR_BINS; b++) {
        J->scalar_counts[b] += L->scalar_counts[b];
        J->scalar_lower[b] = fminf(J->scalar_lower[b], L->scalar_lower[b]);
        J->scalar_upper[b] = fmaxf(J->scalar_upper[b], L->scalar_upper[b]);
    }
    for (int b = 0; b < 2 * (T + 2); b++) J->event_counts[b] += L->event_counts[b];
    for (int b = 0; b < k * DECILES; b++) {
        J->decile_counts[b] += L->decile_counts[b];
        J->decile_recouped[b] += L->decile_recouped[b];
    }
    *J->checksum += L->checksum;
}

static void local_free(Local *L) {
    free(L->month_counts); free(L->month_min); free(L->month_max);
    free(L->scalar_counts); free(L->scalar_lower); free(L->scalar_upper);
    free(L->event_counts); free(L->decile_counts); free(L->decile_recouped);
}

/* Run every future of the job: blocks of BLOCK futures (one row of sums each, so no two threads
 * share a row) spread over ``threads`` threads, each block in tiles of TILE futures.
 * Returns 0, or -1 on input the kernel does not handle. */
int fused_run(Job *J, int threads) {
    if (J->n % BLOCK || J->terms_gen > MAX_TERMS || J->k > MAX_INPUTS || J->dep_months < 1) return -1;
    const int64_t blocks = J->n / BLOCK;
#pragma omp parallel num_threads(threads)
    {
        Local L;
        local_init(&L, J);
        float *ring = malloc((size_t)J->dep_months * TILE * sizeof(float));
#pragma omp for schedule(static)
        for (int64_t b = 0; b < blocks; b++)
            for (int t = 0; t < BLOCK / TILE; t++) run_tile(J, &L, b * BLOCK + t * TILE, TILE, ring);
#pragma omp critical
        local_merge(&L, J);
        free(ring);
        local_free(&L);
    }
    return 0;
}
