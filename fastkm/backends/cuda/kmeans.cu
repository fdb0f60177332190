// fastkm's CUDA kernels: the hot step of Lloyd's algorithm and its helpers.
//
// Compiled at run time by CuPy (cupy.RawModule, NVRTC) and instantiated for
// float and double through the name expressions listed in
// fastkm/backends/cupy_backend.py (KERNELS); tests/test_cuda_compile.py
// compiles the same list with nvcc for sm_80 and sm_90 and fails on errors or
// on register spills. Self-contained: no headers, so NVRTC needs no include
// path.
//
// Conventions (those of fastkm/backends/base.py):
//  * X is C-contiguous (n, d); centroids (k, d) of the same type T;
//  * labels are int, ties go to the lowest centroid index (strict <);
//  * sums, counts, inertia and per-point squared distances are double;
//  * a distance to the winning centroid is measured by direct differences
//    sum((x - c)^2), never read off a |x|^2 - 2 x.c + |c|^2 expansion;
//  * "weighted" = 0 means every point weighs 1 (the weight array is unused).

#define FASTKM_FULL_MASK 0xffffffffu
#define FASTKM_BLOCK 256

template <typename V>
__device__ __forceinline__ V warp_sum(V value) {
#pragma unroll
    for (int offset = 16; offset > 0; offset >>= 1) {
        value += __shfl_xor_sync(FASTKM_FULL_MASK, value, offset);
    }
    return value;  // every lane holds the warp's total
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

// Adds a block's inertia and changed-label count to the global totals.
__device__ __forceinline__ void flush_stats(double inertia, unsigned long long changed, double* total_inertia,
                                            unsigned long long* total_changed) {
    inertia = block_sum(inertia);
    changed = block_sum(changed);
    if (threadIdx.x == 0) {
        atomicAdd(total_inertia, inertia);
        atomicAdd(total_changed, changed);
    }
}

// Small d*K: one thread per point, centroids staged in shared memory, the
// point's features held in registers (DMAX >= d), the whole step fused.
// Sums and counts go to block-local shared partials, then to global memory
// once per block. Dynamic shared memory: (accumulate ? (k*d + k) doubles : 0)
// followed by k*d values of T.
template <typename T, int DMAX>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    fused_step(const T* __restrict__ X, const T* __restrict__ centroids, const T* __restrict__ weight, long long n,
               int d, int k, int weighted, int accumulate, int* __restrict__ labels, double* __restrict__ sq_dist,
               int write_sq_dist, double* __restrict__ sums, double* __restrict__ counts,
               double* __restrict__ total_inertia, unsigned long long* __restrict__ total_changed) {
    extern __shared__ double shared[];
    const int kd = k * d;
    double* shared_sums = shared;
    double* shared_counts = shared + (accumulate ? kd : 0);
    T* shared_centroids = reinterpret_cast<T*>(shared_counts + (accumulate ? k : 0));
    for (int i = threadIdx.x; i < kd; i += blockDim.x) {
        shared_centroids[i] = centroids[i];
        if (accumulate) shared_sums[i] = 0.0;
    }
    if (accumulate) {
        for (int i = threadIdx.x; i < k; i += blockDim.x) shared_counts[i] = 0.0;
    }
    __syncthreads();

    double inertia = 0.0;
    unsigned long long changed = 0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T* row = X + i * d;
        T x[DMAX];
#pragma unroll
        for (int j = 0; j < DMAX; ++j) x[j] = (j < d) ? row[j] : T(0);
        T best = T(0);
        int best_k = 0;
        for (int c = 0; c < k; ++c) {
            const T* centroid = shared_centroids + c * d;
            T distance = T(0);
#pragma unroll
            for (int j = 0; j < DMAX; ++j) {
                if (j < d) {
                    const T diff = x[j] - centroid[j];
                    distance += diff * diff;
                }
            }
            if (c == 0 || distance < best) {
                best = distance;
                best_k = c;
            }
        }
        changed += (labels[i] != best_k);
        labels[i] = best_k;
        if (write_sq_dist) sq_dist[i] = (double)best;
        if (accumulate) {
            const double w = weighted ? (double)weight[i] : 1.0;
            inertia += w * (double)best;
            double* cluster_sums = shared_sums + best_k * d;
#pragma unroll
            for (int j = 0; j < DMAX; ++j) {
                if (j < d) atomicAdd(cluster_sums + j, w * (double)x[j]);
            }
            atomicAdd(shared_counts + best_k, w);
        }
    }
    __syncthreads();
    if (accumulate) {
        for (int i = threadIdx.x; i < kd; i += blockDim.x) {
            if (shared_sums[i] != 0.0) atomicAdd(sums + i, shared_sums[i]);
        }
        for (int i = threadIdx.x; i < k; i += blockDim.x) {
            if (shared_counts[i] != 0.0) atomicAdd(counts + i, shared_counts[i]);
        }
    }
    flush_stats(inertia, changed, total_inertia, total_changed);
}

// Large d*K, after cuBLAS: scores[r, c] = -2 (x_r - o).(c - o) for a chunk of
// rows, so scores[r, c] + bias[c] with bias[c] = |c - o|^2 is the squared
// distance less |x_r - o|^2 (o: the centroids' mean). One warp per
// row: argmin over the scores, then the winner's distance measured directly
// in double, then the row added to its cluster's sums (global atomics, one
// feature per lane). X, weight, labels and sq_dist point at the chunk's
// first row.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    scores_argmin_step(const T* __restrict__ scores, const T* __restrict__ bias, const T* __restrict__ X,
                       const T* __restrict__ centroids,
                       const T* __restrict__ weight, long long rows, int d, int k, int weighted, int accumulate,
                       int* __restrict__ labels, double* __restrict__ sq_dist, int write_sq_dist,
                       double* __restrict__ sums, double* __restrict__ counts, double* __restrict__ total_inertia,
                       unsigned long long* __restrict__ total_changed) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    double inertia = 0.0;
    unsigned long long changed = 0;
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
        const T* row_scores = scores + r * k;
        // Each lane scans c = lane, lane + 32, ... keeping its first minimum;
        // lanes past k hold no candidate (best_k = k loses every comparison).
        T best = T(0);
        int best_k = k;
        for (int c = lane; c < k; c += 32) {
            const T value = row_scores[c] + bias[c];
            if (best_k == k || value < best) {
                best = value;
                best_k = c;
            }
        }
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) {
            const T other = __shfl_xor_sync(FASTKM_FULL_MASK, best, offset);
            const int other_k = __shfl_xor_sync(FASTKM_FULL_MASK, best_k, offset);
            const bool take = other_k != k && (best_k == k || other < best || (other == best && other_k < best_k));
            best = take ? other : best;
            best_k = take ? other_k : best_k;
        }
        // every lane now holds the same (best, best_k)
        const T* x = X + r * d;
        const T* centroid = centroids + (long long)best_k * d;
        double distance = 0.0;
        for (int j = lane; j < d; j += 32) {
            const double diff = (double)x[j] - (double)centroid[j];
            distance += diff * diff;
        }
        distance = warp_sum(distance);
        if (lane == 0) {
            changed += (labels[r] != best_k);
            labels[r] = best_k;
            if (write_sq_dist) sq_dist[r] = distance;
        }
        if (accumulate) {
            const double w = weighted ? (double)weight[r] : 1.0;
            double* cluster_sums = sums + (long long)best_k * d;
            for (int j = lane; j < d; j += 32) atomicAdd(cluster_sums + j, w * (double)x[j]);
            if (lane == 0) {
                atomicAdd(counts + best_k, w);
                inertia += w * distance;
            }
        }
    }
    flush_stats(inertia, changed, total_inertia, total_changed);
}

// One greedy k-means++ step: potentials[t] += sum_i w_i min(closest_i, |x_i - cand_t|^2)
// for up to MAX_CANDIDATES candidates (the host sends larger sets in groups).
// Distances in T by direct differences, sums in double.
#define FASTKM_MAX_CANDIDATES 32

template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    seeding_potentials(const T* __restrict__ X, const T* __restrict__ candidates, const T* __restrict__ closest,
                       const T* __restrict__ weight, long long n, int d, int n_candidates, int weighted,
                       double* __restrict__ potentials) {
    double potential[FASTKM_MAX_CANDIDATES];
#pragma unroll
    for (int t = 0; t < FASTKM_MAX_CANDIDATES; ++t) potential[t] = 0.0;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T* x = X + i * d;
        const double w = weighted ? (double)weight[i] : 1.0;
        const T current = closest[i];
#pragma unroll
        for (int t = 0; t < FASTKM_MAX_CANDIDATES; ++t) {
            if (t < n_candidates) {
                const T* candidate = candidates + (long long)t * d;
                T distance = T(0);
                for (int j = 0; j < d; ++j) {
                    const T diff = x[j] - candidate[j];
                    distance += diff * diff;
                }
                potential[t] += w * (double)(distance < current ? distance : current);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < FASTKM_MAX_CANDIDATES; ++t) {
        if (t < n_candidates) {
            const double total = block_sum(potential[t]);
            if (threadIdx.x == 0) atomicAdd(potentials + t, total);
        }
    }
}

// closest_i = min(closest_i, |x_i - centre|^2) (in T, by direct differences).
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    seeding_update(const T* __restrict__ X, const T* __restrict__ centre, long long n, int d, T* __restrict__ closest) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T* x = X + i * d;
        T distance = T(0);
        for (int j = 0; j < d; ++j) {
            const T diff = x[j] - centre[j];
            distance += diff * diff;
        }
        if (distance < closest[i]) closest[i] = distance;
    }
}

// out_i = |x_i - centroids[labels_i]|^2 in double.
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    labelled_sq_dist(const T* __restrict__ X, const T* __restrict__ centroids, const int* __restrict__ labels,
                     long long n, int d, double* __restrict__ out) {
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const T* x = X + i * d;
        const T* centroid = centroids + (long long)labels[i] * d;
        double distance = 0.0;
        for (int j = 0; j < d; ++j) {
            const double diff = (double)x[j] - (double)centroid[j];
            distance += diff * diff;
        }
        out[i] = distance;
    }
}

// out[i, m] = |x_i - y_m|^2 in double (KMeans.transform).
template <typename T>
__global__ void __launch_bounds__(FASTKM_BLOCK)
    pairwise_sq_dist(const T* __restrict__ X, const T* __restrict__ Y, long long n, int m, int d,
                     double* __restrict__ out) {
    const long long total = n * m;
    const long long stride = (long long)gridDim.x * blockDim.x;
    for (long long index = (long long)blockIdx.x * blockDim.x + threadIdx.x; index < total; index += stride) {
        const T* x = X + (index / m) * d;
        const T* y = Y + (index % m) * d;
        double distance = 0.0;
        for (int j = 0; j < d; ++j) {
            const double diff = (double)x[j] - (double)y[j];
            distance += diff * diff;
        }
        out[index] = distance;
    }
}
