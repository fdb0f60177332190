// fastkm's CUDA kernels: the hot step of Lloyd's algorithm and its helpers.
//
// Compiled at run time by CuPy (cupy.RawModule, NVRTC) and instantiated for
// float and double through the name expressions listed in
// fastkm/backends/cupy_backend.py (KERNELS); tests/test_cuda_compile.py
// compiles the same list with nvcc for sm_80 and sm_90 and fails on errors,
// on register spills, or on any flush-to-zero instruction. Self-contained: no
// headers, so NVRTC needs no include path.
//
// The exact-agreement contract (fastkm/backends/exact.py), as every other
// backend implements it:
//  * the canonical squared distance, sum_j (x_j - c_j)^2 in double from the
//    exact double values of x and c, features in order, every operation
//    rounded once (canonical_sq_dist): every distance reported, and every
//    final decision between centres, is made with it;
//  * the certified argmin: a fast screen (direct differences in T, or a
//    cuBLAS GEMM) with an a-priori error bound; a point whose runner-up is
//    within the bound of its best is settled by canonical distances
//    (smallest wins, lowest index on equality);
//  * exact sums: every term is split into parts on fixed grids, coarse to
//    fine (split), and each part is summed separately; sums of multiples of
//    a grid are exact in any order, so atomics (shared or global) give the
//    same bits every time, and the host combines the parts once at the end.
//
// Flush-to-zero. CuPy appends -ftz=true to the NVRTC options (after the
// caller's, and the last one wins), which would flush float subnormals in
// every f32 instruction -- conversions to double included -- and break both
// the canonical distance and the screening bound. So no float value is ever
// operated on by plain C++ arithmetic here: subtraction, fma and conversion go
// through inline PTX without .ftz (screen_sub, screen_fma, to_double), and
// screened floats (non-negative) are compared by their bits (screen_less).
// Double arithmetic has no ftz mode. The compile test checks that the PTX
// built with -ftz=true holds no .ftz instruction.
//
// Conventions (those of fastkm/backends/base.py):
//  * X is C-contiguous (n, d); centroids (k, d) of the same type T;
//  * labels are int; per-point squared distances are double; sums
//    (sums_folds, k, d), counts (counts_folds, k) and inertia (inertia_folds,)
//    are the parts of exact double sums, on the grids of magic = [sums'
//    (sums_folds, d) | counts' (counts_folds) | inertia's (inertia_folds)]
//    (fastkm.backends.exact.SumGrid.magic; at most FASTKM_MAX_FOLDS each);
//  * "weighted" = 0 means every point weighs 1 (the weight array is unused);
//  * counters = (changed labels, points rechecked canonically).

#define FASTKM_FULL_MASK 0xffffffffu
#define FASTKM_BLOCK 256
// Every kernel promises ptxas two resident blocks per SM, so a budget of 128
// registers a thread: without it ptxas aims for higher occupancy and spills
// (in the cold recheck paths), which tests/test_cuda_compile.py rejects.
#define FASTKM_MIN_BLOCKS 2

// -- float arithmetic without flush-to-zero ----------------------------------------
__device__ __forceinline__ double to_double(float value) {
    double result;
    asm("cvt.f64.f32 %0, %1;" : "=d"(result) : "f"(value));  // exact
    return result;
}
__device__ __forceinline__ double to_double(double value) { return value; }

__device__ __forceinline__ float screen_sub(float a, float b) {
    float result;
    asm("sub.rn.f32 %0, %1, %2;" : "=f"(result) : "f"(a), "f"(b));
    return result;
}
__device__ __forceinline__ double screen_sub(double a, double b) { return __dsub_rn(a, b); }

__device__ __forceinline__ float screen_fma(float a, float b, float c) {
    float result;
    asm("fma.rn.f32 %0, %1, %2, %3;" : "=f"(result) : "f"(a), "f"(b), "f"(c));
    return result;
}
__device__ __forceinline__ double screen_fma(double a, double b, double c) { return __fma_rn(a, b, c); }

// a < b for screened squared distances, which are >= +0 (or +inf): for those
// the IEEE encoding is monotone, and an integer comparison flushes nothing.
__device__ __forceinline__ bool screen_less(float a, float b) { return __float_as_uint(a) < __float_as_uint(b); }
__device__ __forceinline__ bool screen_less(double a, double b) { return a < b; }

template <typename T>
__device__ __forceinline__ T infinity();
template <>
__device__ __forceinline__ float infinity<float>() { return __int_as_float(0x7f800000); }
template <>
__device__ __forceinline__ double infinity<double>() { return __longlong_as_double(0x7ff0000000000000LL); }

// -- the contract's building blocks ------------------------------------------------
// The canonical squared distance (fastkm.backends.exact): double, features in
// order from 0.0, each subtraction, multiplication and addition rounded once
// (the _rn intrinsics are never contracted into an fma).
template <typename T>
__device__ __forceinline__ double canonical_sq_dist(const T* x, const T* c, int d) {
    double total = 0.0;
    for (int j = 0; j < d; ++j) {
        const double diff = __dsub_rn(to_double(x[j]), to_double(c[j]));
        total = __dadd_rn(total, __dmul_rn(diff, diff));
    }
    return total;
}

// One step of fastkm.backends.exact.fold: value's part on the grid of magic
// (value rounded to it), and value left as the exact remainder.
#define FASTKM_MAX_FOLDS 3

__device__ __forceinline__ double split(double& value, double magic) {
    const double part = __dsub_rn(__dadd_rn(value, magic), magic);
    value = __dsub_rn(value, part);
    return part;
}

// Adds value's parts on the grids magic[0], magic[magic_stride], ... to the slots
// slots[0], slots[slot_stride], ... (shared or global memory): exact, in any order. With sign -1
// the parts are taken away (the same parts: a sum that gains and loses a value is unchanged).
__device__ __forceinline__ void add_folded(double* slots, long long slot_stride, double value, const double* magic,
                                           int magic_stride, int folds, double sign = 1.0) {
    for (int f = 0; f < folds; ++f) atomicAdd(slots + f * slot_stride, sign * split(value, magic[f * magic_stride]));
}

// Adds value's parts on the grids magic[0..folds) to a thread's running totals (registers).
__device__ __forceinline__ void accumulate_folded(double (&totals)[FASTKM_MAX_FOLDS], double value,
                                                  const double* magic, int folds) {
#pragma unroll
    for (int f = 0; f < FASTKM_MAX_FOLDS; ++f) {
        if (f < folds) totals[f] += split(value, magic[f]);
    }
}

// The exact-sum arguments of the hot kernels, unpacked.
struct SumGrids {
    const double* sums;  // (sums_folds, d)
    const double* counts;
    const double* inertia;
    int sums_folds, counts_folds, inertia_folds;
    __device__ SumGrids(const double* magic, int d, int sums_folds, int counts_folds, int inertia_folds)
        : sums(magic),
          counts(magic + sums_folds * d),
          inertia(magic + sums_folds * d + counts_folds),
          sums_folds(sums_folds),
          counts_folds(counts_folds),
          inertia_folds(inertia_folds) {}
};

// -- reductions ---------------------------------------------------------------------
template <typename V>
__device__ __forceinline__ V warp_sum(V value) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        value += __shfl_xor_sync(FASTKM_FULL_MASK, value, offset);
    }
    return value;  // every lane holds the warp's total
}

// The warp's smallest (value, index) pair, lowest index on equal values;
// index == none marks a lane that holds nothing. Every lane gets the result.
__device__ __forceinline__ void warp_argmin(double& value, int& index, int none) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        const double other = __shfl_xor_sync(FASTKM_FULL_MASK, value, offset);
        const int other_index = __shfl_xor_sync(FASTKM_FULL_MASK, index, offset);
        const bool take = other_index != none &&
                          (index == none || other < value || (other == value && other_index < index));
        value = take ? other : value;
        index = take ? other_index : index;
    }
}

// Sum over the block; the result is valid in thread 0. Every thread must call it.
template <typename V>
__device__ V block_sum(V value) {
    __shared__ V partial[FASTKM_BLOCK / 32];
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    value = warp_sum(value);
    if (lane == 0) partial[warp] = value;
    __syncthreads();
    value = (threadIdx.x < (blockDim.x >> 5)) ? partial[lane] : V(0);
    if (warp == 0) value = warp_sum(value);
    __syncthreads();  // partial[] may be reused by the next call
    return value;
}

// Adds a block's inertia parts (exact sums: any order) and its counters to the global totals.
// (A thread's counts fit 32 bits; a block's are summed in 64.)
__device__ __forceinline__ void flush_stats(const double (&inertia_parts)[FASTKM_MAX_FOLDS], int folds,
                                            unsigned int changed, unsigned int rechecked, double* inertia,
                                            unsigned long long* counters) {
#pragma unroll
    for (int f = 0; f < FASTKM_MAX_FOLDS; ++f) {
        if (f < folds) {  // (the same for the whole block: every thread calls block_sum)
            const double total = block_sum(inertia_parts[f]);
            if (threadIdx.x == 0) atomicAdd(inertia + f, total);
        }
    }
    const unsigned long long block_changed = block_sum((unsigned long long)changed);
    const unsigned long long block_rechecked = block_sum((unsigned long long)rechecked);
    if (threadIdx.x == 0) {
        atomicAdd(counters, block_changed);
        atomicAdd(counters + 1, block_rechecked);
    }
}

// -- the hot step ---------------------------------------------------------------------
// Small d*K: one thread per point, centroids staged in shared memory, the
// point's features held in registers (DMAX >= d), the whole step fused. The
// screen is sum_j (x_j - c_j)^2 in T, an fma per feature
// (exact.direct_threshold's model: any order, fma or not); each
// point keeps its best and runner-up screened values, and is rechecked
// canonically against every centre when
//   (double)second <= (double)best * direct_scale + direct_offset.
// Sums and counts go to block-local shared parts, then to global memory once
// per block. Dynamic shared memory: (accumulate ? sums_folds * k*d +
// counts_folds * k doubles : 0) followed by k*d values of T.
template <typename T, int DMAX>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    fused_step(const T* __restrict__ X, const T* __restrict__ centroids, const T* __restrict__ weight, long long n,
               int d, int k, int weighted, int accumulate, double direct_scale, double direct_offset,
               const double* __restrict__ magic, int sums_folds, int counts_folds, int inertia_folds,
               int* __restrict__ labels, double* __restrict__ sq_dist, int write_sq_dist, double* __restrict__ sums,
               double* __restrict__ counts, double* __restrict__ inertia, unsigned long long* __restrict__ counters) {
    extern __shared__ double shared[];
    const int kd = k * d;
    const SumGrids grids(magic, d, sums_folds, counts_folds, inertia_folds);
    const int n_sums = accumulate ? sums_folds * kd : 0, n_counts = accumulate ? counts_folds * k : 0;
    double* shared_sums = shared;                  // (sums_folds, k, d)
    double* shared_counts = shared + n_sums;       // (counts_folds, k)
    T* shared_centroids = reinterpret_cast<T*>(shared_counts + n_counts);
    for (int i = threadIdx.x; i < kd; i += blockDim.x) shared_centroids[i] = centroids[i];
    for (int i = threadIdx.x; i < n_sums + n_counts; i += blockDim.x) shared[i] = 0.0;
    __syncthreads();

    double inertia_parts[FASTKM_MAX_FOLDS] = {};
    unsigned int changed = 0, rechecked = 0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T* row = X + i * d;
        T x[DMAX];
#pragma unroll
        for (int j = 0; j < DMAX; ++j) x[j] = (j < d) ? row[j] : T(0);
        // the screen: best (first index on ties) and runner-up = min over the others
        T best = infinity<T>(), second = infinity<T>();
        int best_k = 0;
        for (int c = 0; c < k; ++c) {
            const T* centroid = shared_centroids + c * d;
            T value = T(0);
#pragma unroll
            for (int j = 0; j < DMAX; ++j) {
                if (j < d) {
                    const T diff = screen_sub(x[j], centroid[j]);
                    value = screen_fma(diff, diff, value);
                }
            }
            const bool closer = screen_less(value, best);
            const T larger = closer ? best : value;  // max(value, best)
            second = screen_less(larger, second) ? larger : second;
            best = closer ? value : best;
            best_k = closer ? c : best_k;
        }
        double distance;
        if (to_double(second) <= to_double(best) * direct_scale + direct_offset) {
            // the screen cannot decide: the canonical distance does (ascending c, strict <)
            ++rechecked;
            best_k = 0;
            distance = canonical_sq_dist(row, shared_centroids, d);
            for (int c = 1; c < k; ++c) {
                const double candidate = canonical_sq_dist(row, shared_centroids + c * d, d);
                if (candidate < distance) {
                    distance = candidate;
                    best_k = c;
                }
            }
        } else {
            distance = canonical_sq_dist(row, shared_centroids + best_k * d, d);
        }
        changed += (labels[i] != best_k);
        labels[i] = best_k;
        if (write_sq_dist) sq_dist[i] = distance;
        if (accumulate) {
            const double w = weighted ? to_double(weight[i]) : 1.0;
            double* cluster_sums = shared_sums + best_k * d;
#pragma unroll
            for (int j = 0; j < DMAX; ++j) {
                if (j < d) {
                    add_folded(cluster_sums + j, kd, __dmul_rn(w, to_double(x[j])), grids.sums + j, d,
                               grids.sums_folds);
                }
            }
            add_folded(shared_counts + best_k, k, w, grids.counts, 1, grids.counts_folds);
            accumulate_folded(inertia_parts, __dmul_rn(w, distance), grids.inertia, grids.inertia_folds);
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < n_sums; i += blockDim.x) {
        if (shared_sums[i] != 0.0) atomicAdd(sums + i, shared_sums[i]);
    }
    for (int i = threadIdx.x; i < n_counts; i += blockDim.x) {
        if (shared_counts[i] != 0.0) atomicAdd(counts + i, shared_counts[i]);
    }
    flush_stats(inertia_parts, accumulate ? inertia_folds : 0, changed, rechecked, inertia, counters);
}

// out[r * row_stride + j * col_stride] = fl_T(x_rj - origin_j) and
// sq_norms[r] = sum_j out_rj^2 (in double) for n rows: the centred rows of a
// GEMM chunk (row_stride = d, col_stride = 1), or the centred centroids
// transposed into the GEMM's operand (row_stride = 1, col_stride = k; their
// squared norms are the scores' bias). One warp per row.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    centre_rows(const T* __restrict__ X, const T* __restrict__ origin, long long n, int d, long long row_stride,
                long long col_stride, T* __restrict__ out, double* __restrict__ sq_norms) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < n; r += warps) {
        double sq_norm = 0.0;
        for (int j = lane; j < d; j += 32) {
            const T value = screen_sub(X[r * d + j], origin[j]);
            out[r * row_stride + j * col_stride] = value;
            const double wide = to_double(value);
            sq_norm += wide * wide;
        }
        sq_norm = warp_sum(sq_norm);
        if (lane == 0) sq_norms[r] = sq_norm;
    }
}

// Large d*K, after cuBLAS: gemm[r, c] = x~_r . c~_c for a chunk of centred
// rows (x~ = fl_T(x - o), c~ = fl_T(c - o), o the centroids' mean in T), so
// s'_c = |c~_c|^2 - 2 gemm[r, c] (bias = |c~|^2) screens the squared distance
// less |x~|^2. One warp per row: the first minimum of s', then how many
// centres are within
//   limit = s'_best + rho * (|x~| + R)^2 + offset
// (R = *radius >= max |c~_c|); if more than one, those are measured
// canonically (smallest wins, lowest index on equality). s' and the limit
// are formed in double: the bias is good to gamma_d(u64), -2 gemm is exact and
// their sum rounds once, all well inside exact.gemm_threshold's model of a
// dot product in T, and its allowance for rounding the limit to T goes
// unused (the comparison is in double). The winner's
// distance is canonical, and the row is added to its cluster's sums (global
// atomics, one feature per lane). X, weight, row_sq_norms, labels and sq_dist
// point at the chunk's first row.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    scores_argmin_step(const T* __restrict__ gemm, const double* __restrict__ bias,
                       const double* __restrict__ row_sq_norms, const double* __restrict__ radius,
                       const T* __restrict__ X, const T* __restrict__ centroids, const T* __restrict__ weight,
                       long long rows, int d, int k, int weighted, int accumulate, double rho, double gemm_offset,
                       const double* __restrict__ magic, int sums_folds, int counts_folds, int inertia_folds,
                       int* __restrict__ labels, double* __restrict__ sq_dist, int write_sq_dist,
                       double* __restrict__ sums, double* __restrict__ counts, double* __restrict__ inertia,
                       unsigned long long* __restrict__ counters) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    const SumGrids grids(magic, d, sums_folds, counts_folds, inertia_folds);
    const double R = *radius;
    double inertia_parts[FASTKM_MAX_FOLDS] = {};
    unsigned int changed = 0, rechecked = 0;
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        const T* row_gemm = gemm + r * k;
        // s'_c (-2 g is exact in double: the fma rounds once, as the addition alone would)
        const auto score_of = [&](int c) { return __fma_rn(-2.0, to_double(row_gemm[c]), bias[c]); };
        // the screen's first minimum; lanes scan c = lane, lane + 32, ...
        double best = infinity<double>();
        int best_k = k;
        for (int c = lane; c < k; c += 32) {
            const double score = score_of(c);
            if (best_k == k || score < best) {
                best = score;
                best_k = c;
            }
        }
        warp_argmin(best, best_k, k);
        const double scale = sqrt(row_sq_norms[r]) + R;
        const double limit = best + rho * scale * scale + gemm_offset;
        int within = 0;
        for (int c = lane; c < k; c += 32) within += score_of(c) <= limit;
        within = warp_sum(within);
        const T* x = X + r * d;
        double distance = infinity<double>();
        if (within > 1) {
            // the screen cannot decide: the canonical distance does, for every centre within the limit
            int nearest = k;
            for (int c = lane; c < k; c += 32) {
                if (score_of(c) <= limit) {
                    const double candidate = canonical_sq_dist(x, centroids + (long long)c * d, d);
                    if (nearest == k || candidate < distance) {
                        distance = candidate;
                        nearest = c;
                    }
                }
            }
            warp_argmin(distance, nearest, k);
            best_k = nearest;
        } else if (lane == 0) {
            distance = canonical_sq_dist(x, centroids + (long long)best_k * d, d);
        }
        if (lane == 0) {
            changed += (labels[r] != best_k);
            rechecked += (within > 1);
            labels[r] = best_k;
            if (write_sq_dist) sq_dist[r] = distance;
        }
        if (accumulate) {
            const double w = weighted ? to_double(weight[r]) : 1.0;
            double* cluster_sums = sums + (long long)best_k * d;
            for (int j = lane; j < d; j += 32) {
                add_folded(cluster_sums + j, (long long)k * d, __dmul_rn(w, to_double(x[j])), grids.sums + j, d,
                           grids.sums_folds);
            }
            if (lane == 0) {
                add_folded(counts + best_k, k, w, grids.counts, 1, grids.counts_folds);
                accumulate_folded(inertia_parts, __dmul_rn(w, distance), grids.inertia, grids.inertia_folds);
            }
        }
    }
    flush_stats(inertia_parts, accumulate ? inertia_folds : 0, changed, rechecked, inertia, counters);
}

// -- k-means++ ------------------------------------------------------------------------
// One greedy k-means++ step: the exact-sum parts (on the grids magic[0..folds))
// of
//   potential_t = sum_i w_i min(closest_i, d(x_i, candidate_t))
// (canonical distances) for up to MAX_CANDIDATES candidates (the host sends
// larger sets in groups, candidates = the group's first), added to
// potentials[f * stride + first + t] for part f (potentials: (folds, stride)).
#define FASTKM_MAX_CANDIDATES 8

template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    seeding_potentials(const T* __restrict__ X, const T* __restrict__ candidates,
                       const double* __restrict__ closest, const T* __restrict__ weight, long long n, int d,
                       int n_candidates, int weighted, const double* __restrict__ magic, int folds,
                       double* __restrict__ potentials, int stride, int first) {
    double parts[FASTKM_MAX_CANDIDATES][FASTKM_MAX_FOLDS] = {};
    const long long step = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        const T* x = X + i * d;
        const double w = weighted ? to_double(weight[i]) : 1.0;
        const double current = closest[i];
#pragma unroll
        for (int t = 0; t < FASTKM_MAX_CANDIDATES; ++t) {
            if (t < n_candidates) {
                const double distance = canonical_sq_dist(x, candidates + (long long)t * d, d);
                accumulate_folded(parts[t], __dmul_rn(w, distance < current ? distance : current), magic, folds);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < FASTKM_MAX_CANDIDATES; ++t) {
#pragma unroll
        for (int f = 0; f < FASTKM_MAX_FOLDS; ++f) {
            if (t < n_candidates && f < folds) {  // (the same for the whole block: every thread calls block_sum)
                const double total = block_sum(parts[t][f]);
                if (threadIdx.x == 0) atomicAdd(potentials + (long long)f * stride + first + t, total);
            }
        }
    }
}

// closest_i = min(closest_i, d(x_i, centre)) (canonical distances).
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    seeding_update(const T* __restrict__ X, const T* __restrict__ centre, long long n, int d,
                   double* __restrict__ closest) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const double distance = canonical_sq_dist(X + i * d, centre, d);
        if (distance < closest[i]) closest[i] = distance;
    }
}

// -- distances on request ----------------------------------------------------------------
// out_i = d(x_i, centroids[labels_i]) (canonical).
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    labelled_sq_dist(const T* __restrict__ X, const T* __restrict__ centroids, const int* __restrict__ labels,
                     long long n, int d, double* __restrict__ out) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        out[i] = canonical_sq_dist(X + i * d, centroids + (long long)labels[i] * d, d);
    }
}

// out[i, m] = d(x_i, y_m) (canonical; KMeans.transform).
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    pairwise_sq_dist(const T* __restrict__ X, const T* __restrict__ Y, long long n, int m, int d,
                     double* __restrict__ out) {
    const long long total = n * m;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x; index < total; index += stride) {
        out[index] = canonical_sq_dist(X + (index / m) * d, Y + (index % m) * d, d);
    }
}

// -- bound-based steps (fastkm.backends.bounds) ---------------------------------------------
// Hamerly, Yinyang and Elkan share one scheme: per point and group g of centres, lower[g * n + i]
// (float, rounded down) bounds the exact distance from x_i to every centre of g but its own. A
// step is three kernels: bounded_filter (each point's own distance; the bounds decayed by the
// groups' moves; the points they cannot keep listed), bounded_measure (a listed point's groups
// the bounds cannot exclude, measured canonically: its label and those groups' bounds) and
// bounded_accumulate (labels, the moved points' exact sums, inertia). Every distance measured is
// canonical, so labels are the canonical argmin (lowest index on ties), as Lloyd's step gives.
//
// The bounds' arithmetic rounds as bounds.py's: each operation once (_rn intrinsics, never
// contracted into an fma), and every rounding allowed for by the slack eps.
__device__ __forceinline__ double bound_tiny() { return __longlong_as_double(0x20b0000000000000LL); }  // 2^-500
__device__ __forceinline__ double bound_tiny_sq() { return __longlong_as_double(0x0170000000000000LL); }  // 2^-1000

__device__ __forceinline__ double sqrt_lower(double sq_dist, double eps) {
    return __dsub_rn(__dmul_rn(__dsqrt_rn(sq_dist), __dsub_rn(1.0, eps)), bound_tiny());
}
__device__ __forceinline__ double sqrt_upper(double sq_dist, double eps) {
    return __dadd_rn(__dmul_rn(__dsqrt_rn(sq_dist), __dadd_rn(1.0, eps)), bound_tiny());
}
// Whether every centre at exact distance >= lower has a canonical distance > sq_dist.
__device__ __forceinline__ bool certifies(double sq_dist, double lower, double eps) {
    return lower > 0.0 && __dsub_rn(__dmul_rn(__dmul_rn(lower, lower), __dsub_rn(1.0, eps)), bound_tiny_sq()) > sq_dist;
}
// lower - move, rounded down.
__device__ __forceinline__ double decayed(double lower, double move) {
    const double value = __dsub_rn(lower, move);
    return __dsub_rn(__dsub_rn(value, __dmul_rn(fabs(value), __longlong_as_double(0x3cc0000000000000LL))), bound_tiny());
}
// value as a float, rounded down, in [0, FLT_MAX] (the conversion without flush-to-zero).
__device__ __forceinline__ float lower32(double value) {
    value = __dsub_rn(__dmul_rn(value, 1.0 - 1.0 / 8388608.0), __longlong_as_double(0x3730000000000000LL));
    value = fmin(fmax(value, 0.0), 3.4028234663852886e+38);
    float result;
    asm("cvt.rn.f32.f64 %0, %1;" : "=f"(result) : "d"(value));
    return result;
}

// Counters of a bound-based step: changed labels, (unused), distances measured, points listed.
#define FASTKM_BOUND_CHANGED 0
#define FASTKM_BOUND_DISTANCES 2
#define FASTKM_BOUND_LISTED 3

// One thread per point. Not fresh: the canonical distance to its own centre (sq_dist, and
// nearest = its label), every group's bound decayed by the group's move (stored rounded down),
// and, unless the distance is certainly below the smallest of them (and, with separation, below
// 2 s - u: Hamerly's and Elkan's other test), the point listed in todo. Fresh: every point listed.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    bounded_filter(const T* __restrict__ X, const T* __restrict__ centroids, const int* __restrict__ labels,
                   long long n, int d, int n_groups, float* __restrict__ lower, const double* __restrict__ group_move,
                   const double* __restrict__ separation, int fresh, double eps, int* __restrict__ nearest,
                   double* __restrict__ sq_dist, long long* __restrict__ todo,
                   unsigned long long* __restrict__ counters) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        if (fresh) {
            todo[atomicAdd(counters + FASTKM_BOUND_LISTED, 1ull)] = i;
            continue;
        }
        const int own_k = labels[i];
        const double own = canonical_sq_dist(X + i * d, centroids + (long long)own_k * d, d);
        double others = infinity<double>();
        for (int g = 0; g < n_groups; ++g) {
            float* bound = lower + (long long)g * n + i;
            const double value = decayed(to_double(*bound), group_move[g]);
            others = fmin(others, value);
            *bound = lower32(value);  // (a listed point's measured groups get new ones)
        }
        others = fmax(others, __dsub_rn(2.0 * separation[own_k], sqrt_upper(own, eps)));
        nearest[i] = own_k;
        sq_dist[i] = own;
        if (!certifies(own, others, eps)) todo[atomicAdd(counters + FASTKM_BOUND_LISTED, 1ull)] = i;
    }
}

// The smaller of two (value, index) pairs, lowest index on equal values (index < 0: none).
__device__ __forceinline__ bool precedes(double value, int index, double other, int other_index) {
    return index >= 0 && (other_index < 0 || value < other || (value == other && index < other_index));
}

// One warp per listed point: every group its bound cannot exclude (every group when fresh) is
// measured canonically, the lanes taking its centres (order[group_start[g]:group_start[g + 1]])
// in turn; the label is the smallest distance among them and the point's own centre (lowest
// index on ties). A measured group's bound becomes its nearest centre's distance, rounded down --
// the winner's group its second nearest; a point that left its centre has that centre's group
// bounded by the old distance too.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    bounded_measure(const T* __restrict__ X, const T* __restrict__ centroids, const int* __restrict__ labels,
                    long long n, int d, int n_groups, const int* __restrict__ order,
                    const int* __restrict__ group_start, const int* __restrict__ group_of,
                    float* __restrict__ lower, int fresh, double eps, const long long* __restrict__ todo,
                    unsigned long long* __restrict__ counters, int* __restrict__ nearest,
                    double* __restrict__ sq_dist) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    const long long listed = (long long)counters[FASTKM_BOUND_LISTED];
    unsigned long long measured = 0;
    for (long long t = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); t < listed; t += warps) {
        const long long i = todo[t];
        const T* x = X + i * d;
        const int own_k = fresh ? -1 : labels[i];
        const double own = fresh ? infinity<double>() : sq_dist[i];
        // the nearest so far, its group, and that group's second nearest (-1: the group was not measured)
        double best = own, best_second = -1.0;
        int best_k = own_k, best_group = fresh ? -1 : group_of[own_k];
        for (int g = 0; g < n_groups; ++g) {
            float* bound = lower + (long long)g * n + i;
            if (!fresh && certifies(own, to_double(*bound), eps)) continue;  // (the same for the whole warp)
            double first = infinity<double>(), second = infinity<double>();
            int first_k = -1;
            for (int p = group_start[g] + lane; p < group_start[g + 1]; p += 32) {
                const int c = order[p];
                const double value = canonical_sq_dist(x, centroids + (long long)c * d, d);
                if (precedes(value, c, first, first_k)) {
                    second = first;
                    first = value;
                    first_k = c;
                } else {
                    second = fmin(second, value);
                }
            }
#pragma unroll
            for (int offset = 16; offset > 0; offset >>= 1) {  // the warp's two smallest
                const double other = __shfl_xor_sync(FASTKM_FULL_MASK, first, offset);
                const int other_k = __shfl_xor_sync(FASTKM_FULL_MASK, first_k, offset);
                const double other_second = __shfl_xor_sync(FASTKM_FULL_MASK, second, offset);
                const bool take = precedes(other, other_k, first, first_k);
                second = fmin(fmin(second, other_second), take ? first : other);
                first = take ? other : first;
                first_k = take ? other_k : first_k;
            }
            measured += group_start[g + 1] - group_start[g];
            if (lane == 0) *bound = lower32(sqrt_lower(first, eps));
            // (equal only for the own centre, whose group this is: then the group's record is taken)
            if (first_k >= 0 && (best_k < 0 || first < best || (first == best && first_k <= best_k))) {
                best = first;
                best_k = first_k;
                best_group = g;
                best_second = second;
            }
        }
        if (lane == 0) {
            if (best_second >= 0.0) lower[(long long)best_group * n + i] = lower32(sqrt_lower(best_second, eps));
            if (!fresh && best_k != own_k) {
                float* bound = lower + (long long)group_of[own_k] * n + i;
                const float left = lower32(sqrt_lower(own, eps));
                if (screen_less(left, *bound)) *bound = left;
            }
            nearest[i] = best_k;
            sq_dist[i] = best;
        }
    }
    if (lane == 0 && measured) atomicAdd(counters + FASTKM_BOUND_DISTANCES, measured);
}

// One thread per point: the label of bounded_filter / bounded_measure taken, the point added to
// its new cluster's exact sums and taken from its old one's (fresh: added to every point's), and
// its inertia term summed.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK, FASTKM_MIN_BLOCKS)
    bounded_accumulate(const T* __restrict__ X, const T* __restrict__ weight, long long n, int d, int k,
                       int weighted, int fresh, const double* __restrict__ magic, int sums_folds,
                       int counts_folds, int inertia_folds, const int* __restrict__ nearest,
                       const double* __restrict__ sq_dist, int* __restrict__ labels, double* __restrict__ sums,
                       double* __restrict__ counts, double* __restrict__ inertia,
                       unsigned long long* __restrict__ counters) {
    const SumGrids grids(magic, d, sums_folds, counts_folds, inertia_folds);
    double inertia_parts[FASTKM_MAX_FOLDS] = {};
    unsigned int changed = 0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const int new_k = nearest[i];
        const int old_k = labels[i];
        const double w = weighted ? to_double(weight[i]) : 1.0;
        if (fresh || new_k != old_k) {
            for (int side = fresh ? 1 : 0; side < 2; ++side) {  // (0: taken from the old, 1: added to the new)
                const int cluster = side ? new_k : old_k;
                const double sign = side ? 1.0 : -1.0;
                for (int j = 0; j < d; ++j) {
                    add_folded(sums + (long long)cluster * d + j, (long long)k * d,
                               __dmul_rn(w, to_double(X[i * d + j])), grids.sums + j, d, grids.sums_folds, sign);
                }
                add_folded(counts + cluster, k, w, grids.counts, 1, grids.counts_folds, sign);
            }
        }
        changed += new_k != old_k;
        labels[i] = new_k;
        accumulate_folded(inertia_parts, __dmul_rn(w, sq_dist[i]), grids.inertia, grids.inertia_folds);
    }
    flush_stats(inertia_parts, inertia_folds, changed, 0, inertia, counters);
}
