/* lgn_runtime.h: the fixed C runtime of lgn-compile's emitted models.
 *
 * Everything the emitted C does that does not depend on a model's data: the bit-sliced
 * word type, input packing (bytes or packed bits -> bit planes), the 64x64 bit-matrix
 * transpose, the carry-save (Harley-Seal) popcount of output planes, the extraction of
 * class scores, the threaded batch driver (LGN_THREADS) and the one-sample paths (the
 * packed 2-input gate program lgn_pairs, the general bit interpreter lgn_interpret).
 * A model's source (lgn-compile's <name>.c) holds its data (wiring, tables, output
 * slots) and the kernel loops, and calls these. The backend inlines this file
 * into every emitted <name>.c, so the emitted C stays one self-contained file per model;
 * here it is a header of its own so that it is compiled and unit-tested on its own
 * (tests/test_c_runtime.py).
 *
 * Configuration, defined before including (one model per translation unit):
 *   LGN_WORD_BITS   64, 128, 256 or 512: samples per word (128+ need GCC/Clang vector
 *                   extensions; 128 is SSE2 or NEON, 256 AVX2, 512 AVX-512F).
 *   LGN_COUNT_BITS  bit planes of a class counter: enough for the largest class score.
 *   LGN_SLOT_BITS   16 or 32: the width of a slot index (lgn_slot).
 *   LGN_THREADS     optional: lgn_run_slices starts POSIX threads (-pthread).
 * Names: functions and types lgn_*, macros LGN_*; everything is static (inline), so two
 * models' sources, each with its own copy, link into one program.
 *
 * C99 with <stdint.h>, <stddef.h>, <string.h>; no heap, no mutable globals.
 */
#ifndef LGN_RUNTIME_H
#define LGN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(LGN_THREADS)
#include <pthread.h>
#endif
#if defined(__AVX2__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__) && defined(__GNUC__)
#include <emmintrin.h>
#endif

#if !defined(LGN_WORD_BITS) || !defined(LGN_COUNT_BITS) || !defined(LGN_SLOT_BITS)
#error "define LGN_WORD_BITS, LGN_COUNT_BITS and LGN_SLOT_BITS before lgn_runtime.h"
#endif
#if LGN_WORD_BITS != 64 && LGN_WORD_BITS != 128 && LGN_WORD_BITS != 256 \
    && LGN_WORD_BITS != 512
#error "LGN_WORD_BITS must be 64, 128, 256 or 512"
#endif
#if LGN_COUNT_BITS < 1 || LGN_COUNT_BITS > 32
#error "class groups of 2**32 or more output bits do not fit uint32_t scores"
#endif

#define LGN_LANES (LGN_WORD_BITS / 64)
#if LGN_WORD_BITS > 64
/* GCC/Clang vector extension; aligned(8) so any uint64_t buffer can hold the slots. */
typedef uint64_t lgn_word __attribute__((vector_size(LGN_WORD_BITS / 8), aligned(8)));
#else
typedef uint64_t lgn_word;
#endif
#if defined(__GNUC__) && !defined(__clang__)
/* Vectors passed to static functions: GCC's ABI note for other targets is irrelevant. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
#if defined(__GNUC__) && __GNUC__ >= 8 && !defined(__clang__)
#define LGN_UNROLL _Pragma("GCC unroll 4") /* ~10% faster gate loops */
#else
#define LGN_UNROLL
#endif
#if defined(__GNUC__)
/* Helpers that only pay off inlined: the adder tree returns planes through pointers
 * (out of line, every plane took a store and a reload on the adder chain), the transpose
 * keeps eight rows in registers, and the packer specializes for whole 64-input tiles. */
#define LGN_INLINE inline __attribute__((always_inline))
#else
#define LGN_INLINE inline
#endif
#define LGN_ZERO ((lgn_word){0})
#define LGN_ONES (~LGN_ZERO)
#define LGN_MAX_THREADS 64 /* most threads lgn_run_slices uses */
#define LGN_TILE_CLASSES (64 / LGN_COUNT_BITS)

#if LGN_SLOT_BITS == 16
typedef uint16_t lgn_slot;
#else
typedef uint32_t lgn_slot;
#endif

/* One loop of the batch evaluator: gates of one truth table, or (generic) each its own. */
struct lgn_kernel {
    unsigned char arity;
    unsigned char generic; /* 1: per-gate tables from the model's luts */
    uint64_t table;
};

/* `count` consecutive gates of the wiring that one kernel evaluates. */
struct lgn_run {
    unsigned short kernel;
    uint32_t count;
};

/* A model's network as the one-sample interpreter walks it. */
struct lgn_net {
    const struct lgn_kernel *kernels;
    const struct lgn_run *runs;
    size_t num_runs;
    const lgn_slot *wiring; /* per gate: result slot, then operand slots */
    const uint64_t *luts;   /* truth tables of the gates of generic kernels, in order */
};

/* A model's class groups: class c counts the slots outputs[starts[c] .. starts[c+1]-1]
 * plus base[c] (its constant-1 output bits). `outputs` has 16 entries to spare past the
 * last group (gcc's bounds check cannot see that the 16-wide counter loop stops in time). */
struct lgn_groups {
    const lgn_slot *outputs;
    const uint32_t *starts;
    const uint32_t *base;
    size_t num_classes;
};

/* A gate with its own truth table: a mux tree over the table's bits, operand 0 first. */
static inline lgn_word lgn_lookup(uint64_t table, unsigned arity, const lgn_word *w,
                                  const lgn_slot *ops)
{
    lgn_word v[64];
    size_t n = (size_t)1 << arity, m;
    unsigned k;

    for (m = 0; m < n; ++m)
        v[m] = ((table >> m) & 1u) ? LGN_ONES : LGN_ZERO;
    for (k = 0; k < arity; ++k) {
        const lgn_word x = w[ops[k]];
        n >>= 1;
        for (m = 0; m < n; ++m)
            v[m] = v[2 * m] ^ ((v[2 * m] ^ v[2 * m + 1]) & x);
    }
    return v[0];
}

/* Eight input bytes -> eight bits (byte j -> bit j; any nonzero byte is a 1). */
static inline unsigned lgn_gather8(const uint8_t *bytes)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;

    memcpy(&v, bytes, 8);
    v = (((v & UINT64_C(0x7f7f7f7f7f7f7f7f)) + UINT64_C(0x7f7f7f7f7f7f7f7f)) | v)
        & UINT64_C(0x8080808080808080); /* bit 7 of each byte: byte != 0 */
    return (unsigned)((v * UINT64_C(0x0002040810204081)) >> 56);
#else
    unsigned j, out = 0;

    for (j = 0; j < 8; ++j)
        out |= (unsigned)(bytes[j] != 0) << j;
    return out;
#endif
}

/* Up to 64 input bytes of one sample -> a 64-bit row (input i0+c at bit c): one byte-test
 * mask with AVX-512BW, else movemasks of 32 (AVX2) or 16 bytes (SSE2, any x86-64), else
 * a multiply per 8 bytes. */
static LGN_INLINE uint64_t lgn_row_bits(const uint8_t *bytes, size_t n)
{
    uint64_t row = 0;
    size_t c = 0;

#if defined(__AVX512BW__) && defined(__GNUC__)
    if (n == 64) {
        const __m512i v = _mm512_loadu_si512((const void *)bytes);
        return (uint64_t)_mm512_test_epi8_mask(v, v);
    }
#endif
#if defined(__AVX2__) && defined(__GNUC__)
    const __m256i zero = _mm256_setzero_si256();
    for (; c + 32 <= n; c += 32) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(bytes + c));
        row |= (uint64_t)(~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero))) << c;
    }
#endif
#if defined(__SSE2__) && defined(__GNUC__)
    for (; c + 16 <= n; c += 16) {
        const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(bytes + c));
        row |= (uint64_t)(~(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_setzero_si128()))
                          & 0xFFFFu) << c;
    }
#endif
    for (; c + 8 <= n; c += 8)
        row |= (uint64_t)lgn_gather8(bytes + c) << c;
    for (; c < n; ++c)
        row |= (uint64_t)(bytes[c] != 0) << c;
    return row;
}

/* Inputs first..first+n-1 of one packed sample (n <= 64; input i at bit i % 8 of byte
 * i / 8; `bytes` points at byte first / 8) -> a 64-bit row. Bits past the last input are
 * kept: they land in the last tile's padding slots, which are written before any read. */
static LGN_INLINE uint64_t lgn_packed_row(const uint8_t *bytes, size_t n)
{
    uint64_t row = 0;
    size_t k;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 64) {
        memcpy(&row, bytes, 8);
        return row;
    }
#endif
    for (k = 0; k < (n + 7) / 8; ++k)
        row |= (uint64_t)bytes[k] << (8 * k);
    return row;
}

/* Swap the off-diagonal `shift`-bit blocks of rows x and y: one step of the recursive
 * transpose (x the row with the lower index). */
#define LGN_SWAP(x, y, shift, mask)                                \
    do {                                                           \
        const lgn_word t_ = (((x) >> (shift)) ^ (y)) & (mask);     \
        (x) ^= t_ << (shift);                                      \
        (y) ^= t_;                                                 \
    } while (0)

/* Three rounds on the eight rows r[0], r[step], ..., r[7 * step], in registers: their
 * 4-, 2- and 1-`scale`-bit blocks (scale 8: rows 32, 16, 8 apart; 1: neighbours). */
static LGN_INLINE void lgn_transpose8(lgn_word *r, size_t step, unsigned scale,
                                      const uint64_t masks[3])
{
    lgn_word v0 = r[0], v1 = r[step], v2 = r[2 * step], v3 = r[3 * step];
    lgn_word v4 = r[4 * step], v5 = r[5 * step], v6 = r[6 * step], v7 = r[7 * step];

    LGN_SWAP(v0, v4, 4 * scale, masks[0]);
    LGN_SWAP(v1, v5, 4 * scale, masks[0]);
    LGN_SWAP(v2, v6, 4 * scale, masks[0]);
    LGN_SWAP(v3, v7, 4 * scale, masks[0]);
    LGN_SWAP(v0, v2, 2 * scale, masks[1]);
    LGN_SWAP(v1, v3, 2 * scale, masks[1]);
    LGN_SWAP(v4, v6, 2 * scale, masks[1]);
    LGN_SWAP(v5, v7, 2 * scale, masks[1]);
    LGN_SWAP(v0, v1, scale, masks[2]);
    LGN_SWAP(v2, v3, scale, masks[2]);
    LGN_SWAP(v4, v5, scale, masks[2]);
    LGN_SWAP(v6, v7, scale, masks[2]);
    r[0] = v0;
    r[step] = v1;
    r[2 * step] = v2;
    r[3 * step] = v3;
    r[4 * step] = v4;
    r[5 * step] = v5;
    r[6 * step] = v6;
    r[7 * step] = v7;
}

/* In-place transpose of LGN_LANES 64x64 bit matrices at once, one per lane of the words:
 * bit c of a[r] <-> bit r of a[c]. The six rounds of the recursive block transpose
 * commute; they run as two sweeps over eight rows at a time (rows 8 apart for the 32-,
 * 16- and 8-bit blocks, then neighbours for the 4-, 2- and 1-bit blocks), so each row is
 * loaded and stored twice instead of six times. */
static inline void lgn_transpose64(lgn_word a[64])
{
    static const uint64_t wide[3] = {UINT64_C(0x00000000FFFFFFFF), UINT64_C(0x0000FFFF0000FFFF),
                                     UINT64_C(0x00FF00FF00FF00FF)};
    static const uint64_t narrow[3] = {UINT64_C(0x0F0F0F0F0F0F0F0F),
                                       UINT64_C(0x3333333333333333),
                                       UINT64_C(0x5555555555555555)};
    unsigned k;

    for (k = 0; k < 8; ++k)
        lgn_transpose8(a + k, 8, 8, wide);
    for (k = 0; k < 8; ++k)
        lgn_transpose8(a + 8 * k, 1, 1, narrow);
}

/* Samples (rows of `sample_bytes` input bytes) -> bit planes in slots 0 .. num_inputs-1.
 * Sample by sample, in memory order (the batch's input is read as one sequential stream,
 * which the prefetchers keep up with), each next 64 inputs become a 64-bit row
 * (lgn_row_bits), the row of sample lane*64+r going to slot (tile start + r), that lane;
 * then every tile of 64 slots is transposed in place, all lanes at once. (Tile by tile,
 * every sample was visited once per tile: bytes in ran at half the speed of packed bits
 * in.) The tiles round the inputs up to a multiple of 64 slots: `w` must hold that many.
 * Rows past `count` (1 .. LGN_WORD_BITS) repeat the last sample. `in` holds bytes (one
 * per input) or, if `packed`, packed bits; inlined with `packed` and the sizes constant,
 * whole tiles' row reads have no loops left. */
static LGN_INLINE void lgn_pack(const uint8_t *in, int packed, size_t sample_bytes,
                                size_t num_inputs, size_t count, lgn_word *restrict w)
{
    uint64_t *lanes = (uint64_t *)(void *)w;
    size_t lane, r, first;

    for (lane = 0; lane < LGN_LANES; ++lane)
        for (r = 0; r < 64; ++r) {
            const size_t s = lane * 64 + r;
            const uint8_t *sample = in + (s < count ? s : count - 1) * sample_bytes;
            uint64_t *row = lanes + r * LGN_LANES + lane;

            for (first = 0; first + 64 <= num_inputs; first += 64)
                row[first * LGN_LANES] = packed ? lgn_packed_row(sample + first / 8, 64)
                                                : lgn_row_bits(sample + first, 64);
            if (first < num_inputs)
                row[first * LGN_LANES] =
                    packed ? lgn_packed_row(sample + first / 8, num_inputs - first)
                           : lgn_row_bits(sample + first, num_inputs - first);
        }
    for (first = 0; first < num_inputs; first += 64)
        lgn_transpose64(w + first);
}

/* Full adder over planes: returns a ^ b ^ c, sets *carry to the majority. */
static LGN_INLINE lgn_word lgn_csa(lgn_word *carry, lgn_word a, lgn_word b, lgn_word c)
{
#if LGN_WORD_BITS == 512 && defined(__AVX512F__) && defined(__GNUC__)
    /* One ternary-logic instruction each: majority (0xE8) and three-way XOR (0x96). */
    *carry = (lgn_word)_mm512_ternarylogic_epi64((__m512i)a, (__m512i)b, (__m512i)c, 0xE8);
    return (lgn_word)_mm512_ternarylogic_epi64((__m512i)a, (__m512i)b, (__m512i)c, 0x96);
#else
    const lgn_word half = a ^ b;

    *carry = (a & b) | (half & c);
    return half ^ c;
#endif
}

/* counter += v << bit, on a counter of LGN_COUNT_BITS planes (a ripple of half adders). */
static LGN_INLINE void lgn_add(lgn_word counter[LGN_COUNT_BITS], size_t bit, lgn_word v)
{
    for (; bit < LGN_COUNT_BITS; ++bit) {
        const lgn_word carry = counter[bit] & v;
        counter[bit] ^= v;
        v = carry;
    }
}

/* Eight planes into the running ones, twos and fours (Harley-Seal: seven full adders);
 * returns the carry plane of weight 8. */
static LGN_INLINE lgn_word lgn_csa8(lgn_word *ones, lgn_word *twos, lgn_word *fours,
                                    const lgn_word *w, const lgn_slot *q)
{
    lgn_word twos_a, twos_b, fours_a, fours_b, eights;

    *ones = lgn_csa(&twos_a, *ones, w[q[0]], w[q[1]]);
    *ones = lgn_csa(&twos_b, *ones, w[q[2]], w[q[3]]);
    *twos = lgn_csa(&fours_a, *twos, twos_a, twos_b);
    *ones = lgn_csa(&twos_a, *ones, w[q[4]], w[q[5]]);
    *ones = lgn_csa(&twos_b, *ones, w[q[6]], w[q[7]]);
    *twos = lgn_csa(&fours_b, *twos, twos_a, twos_b);
    *fours = lgn_csa(&eights, *fours, fours_a, fours_b);
    return eights;
}

/* The popcount of the `size` planes w[group[0]], ..., w[group[size-1]] as LGN_COUNT_BITS
 * planes in counter[]: a carry-save adder tree over sixteen planes at a time, whose
 * weight-16 carries ripple into the counter. `group` is read in whole blocks of 16
 * (entries past `size` are never read, but must exist when size % 16 >= 8: see
 * struct lgn_groups). */
static inline void lgn_popcount(const lgn_word *restrict w, const lgn_slot *group, size_t size,
                                lgn_word *counter)
{
    lgn_word ones = LGN_ZERO, twos = LGN_ZERO, fours = LGN_ZERO, eights = LGN_ZERO;
    lgn_word sixteens;
    size_t k;

    for (k = 0; k < LGN_COUNT_BITS; ++k)
        counter[k] = LGN_ZERO;
    for (k = 0; k + 16 <= size; k += 16) {
        const lgn_word eights_a = lgn_csa8(&ones, &twos, &fours, w, group + k);
        const lgn_word eights_b = lgn_csa8(&ones, &twos, &fours, w, group + k + 8);

        eights = lgn_csa(&sixteens, eights, eights_a, eights_b);
        lgn_add(counter, 4, sixteens);
    }
    if (k + 8 <= size) {
        lgn_add(counter, 3, lgn_csa8(&ones, &twos, &fours, w, group + k));
        k += 8;
    }
    for (; k < size; ++k)
        lgn_add(counter, 0, w[group[k]]);
    lgn_add(counter, 0, ones);
    lgn_add(counter, 1, twos);
    lgn_add(counter, 2, fours);
    lgn_add(counter, 3, eights);
}

/* The transposed counter tile -> scores: sample s's 64-bit row (rows[(s % 64) * LANES +
 * s / 64]) holds the counts of `classes` classes, LGN_COUNT_BITS bits each; class j's
 * score, its count plus base[j], goes to out[s * stride + j]. With AVX-512 (8 classes a
 * step) or AVX2 (4), each lane of the broadcast word is shifted by its class's offset,
 * masked, given its base and stored as 32 bits under a mask of the classes present; the
 * scalar field loop took ~3 cycles per score, a sixth of a pass on MNIST-sized nets. */
static inline void lgn_scatter_counts(const uint64_t *rows, size_t count, size_t classes,
                                      const uint32_t *base, size_t stride,
                                      uint32_t *restrict out)
{
    size_t s, j;
#if defined(__AVX2__) && defined(__GNUC__)
    /* Per class (padded to whole steps): its field's offset, and its base (0 past the end). */
    long long shifts[LGN_TILE_CLASSES + 7], bases[LGN_TILE_CLASSES + 7];

    for (j = 0; j < LGN_TILE_CLASSES + 7; ++j) {
        shifts[j] = (long long)(j * LGN_COUNT_BITS);
        bases[j] = j < classes ? (long long)base[j] : 0;
    }
#endif
#if defined(__AVX512F__) && defined(__GNUC__)
    const __m512i field = _mm512_set1_epi64((long long)(((uint64_t)1 << LGN_COUNT_BITS) - 1));

    for (s = 0; s < count; ++s, out += stride) {
        const __m512i counts = _mm512_set1_epi64((long long)rows[(s % 64) * LGN_LANES + s / 64]);

        for (j = 0; j < classes; j += 8) {
            const __m512i shift = _mm512_loadu_si512((const void *)(shifts + j));
            const __m512i add = _mm512_loadu_si512((const void *)(bases + j));
            const __mmask8 keep = (__mmask8)(classes - j >= 8 ? 0xFFu
                                                              : (1u << (classes - j)) - 1);

            _mm512_mask_cvtepi64_storeu_epi32(out + j, keep, _mm512_add_epi64(
                _mm512_and_si512(_mm512_srlv_epi64(counts, shift), field), add));
        }
    }
#elif defined(__AVX2__) && defined(__GNUC__)
    /* keep_from[4 - n ..] is the store mask of the first n of four lanes. */
    static const int keep_from[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    const __m256i field = _mm256_set1_epi64x((long long)(((uint64_t)1 << LGN_COUNT_BITS) - 1));
    const __m256i low_halves = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);

    for (s = 0; s < count; ++s, out += stride) {
        const __m256i counts = _mm256_set1_epi64x((long long)rows[(s % 64) * LGN_LANES + s / 64]);

        for (j = 0; j < classes; j += 4) {
            const __m256i shift = _mm256_loadu_si256((const __m256i *)(const void *)(shifts + j));
            const __m256i add = _mm256_loadu_si256((const __m256i *)(const void *)(bases + j));
            const __m128i keep = _mm_loadu_si128((const __m128i *)(const void *)(
                keep_from + 4 - (classes - j >= 4 ? 4 : classes - j)));
            const __m256i sums = _mm256_add_epi64(
                _mm256_and_si256(_mm256_srlv_epi64(counts, shift), field), add);

            _mm_maskstore_epi32((int *)(void *)(out + j), keep, _mm256_castsi256_si128(
                _mm256_permutevar8x32_epi32(sums, low_halves)));
        }
    }
#else
    const uint64_t field = ((uint64_t)1 << LGN_COUNT_BITS) - 1;

    for (s = 0; s < count; ++s, out += stride) {
        const uint64_t counts = rows[(s % 64) * LGN_LANES + s / 64];

        for (j = 0; j < classes; ++j)
            out[j] = (uint32_t)((counts >> (j * LGN_COUNT_BITS)) & field) + base[j];
    }
#endif
}

/* Class scores of `count` samples (row s at scores + s * num_classes) from the output
 * planes in `w`. The counters of up to LGN_TILE_CLASSES classes fill the rows of a 64-row
 * tile (class j's bit b in row j*LGN_COUNT_BITS+b); one bit-matrix transpose turns them
 * into one 64-bit word per sample that holds all those classes' counts side by side. */
static inline void lgn_count(const lgn_word *restrict w, size_t count,
                             const struct lgn_groups *g, uint32_t *restrict scores)
{
    lgn_word tile[64];
    const uint64_t *rows = (const uint64_t *)(const void *)tile;
    size_t first, j;

    for (first = 0; first < g->num_classes; first += LGN_TILE_CLASSES) {
        const size_t classes = g->num_classes - first < LGN_TILE_CLASSES
                               ? g->num_classes - first : LGN_TILE_CLASSES;

        for (j = classes * LGN_COUNT_BITS; j < 64; ++j)
            tile[j] = LGN_ZERO;
        for (j = 0; j < classes; ++j) {
            const size_t c = first + j;

            lgn_popcount(w, g->outputs + g->starts[c], g->starts[c + 1] - g->starts[c],
                         tile + j * LGN_COUNT_BITS);
        }
        lgn_transpose64(tile);
        lgn_scatter_counts(rows, count, classes, g->base + first, g->num_classes,
                           scores + first);
    }
}

/* The slots start at the first 64-byte boundary in `work` (a model's WORK_WORDS has 7
 * words to spare): a 512-bit slot is then exactly one cache line, not two halves. */
static inline lgn_word *lgn_align(uint64_t *work)
{
    return (lgn_word *)(void *)(work + ((64 - (uintptr_t)work % 64) % 64) / 8);
}

/* A model's batch entry point: `count` samples from `in` (bytes, or packed bits if
 * `packed`) to scores, in one work area. */
typedef void (*lgn_batch_fn)(const uint8_t *in, int packed, size_t count, uint32_t *scores,
                             uint64_t *work);

/* One thread's share of lgn_run_slices. */
struct lgn_slice {
    lgn_batch_fn batch;
    const uint8_t *in;
    int packed;
    size_t count;
    uint32_t *scores;
    uint64_t *work;
};

static inline void *lgn_run_slice(void *arg)
{
    const struct lgn_slice *job = (const struct lgn_slice *)arg;

    job->batch(job->in, job->packed, job->count, job->scores, job->work);
    return NULL;
}

/* The threaded batch: `threads` (1 .. LGN_MAX_THREADS) slices of whole words of samples,
 * one per thread, each with its own `work_words` of `work`; sample s is `sample_bytes` at
 * in + s * sample_bytes, its scores the `num_classes` at scores + s * num_classes.
 * Threads only with LGN_THREADS defined (POSIX threads: build with -DLGN_THREADS
 * -pthread); without it, or when a thread cannot be started, the slices run in the
 * calling thread: same results, one core. */
static inline void lgn_run_slices(lgn_batch_fn batch, const uint8_t *in, int packed,
                                  size_t sample_bytes, size_t num_samples, size_t num_classes,
                                  uint32_t *scores, uint64_t *work, size_t work_words,
                                  unsigned threads)
{
    const size_t words = (num_samples + LGN_WORD_BITS - 1) / LGN_WORD_BITS;
    size_t per_slice, first = 0;
    unsigned t, used = 0;
#if defined(LGN_THREADS)
    pthread_t ids[LGN_MAX_THREADS];
    unsigned char started[LGN_MAX_THREADS];
#endif
    struct lgn_slice jobs[LGN_MAX_THREADS];

    threads = threads < 1 ? 1 : threads > LGN_MAX_THREADS ? LGN_MAX_THREADS : threads;
    per_slice = (words + threads - 1) / threads * LGN_WORD_BITS;
    for (t = 0; t < threads && first < num_samples; ++t, first += per_slice) {
        const size_t left = num_samples - first;

        jobs[t].batch = batch;
        jobs[t].in = in + first * sample_bytes;
        jobs[t].packed = packed;
        jobs[t].count = left < per_slice ? left : per_slice;
        jobs[t].scores = scores + first * num_classes;
        jobs[t].work = work + (size_t)t * work_words;
        used = t + 1;
    }
#if defined(LGN_THREADS)
    for (t = 1; t < used; ++t)
        started[t] = pthread_create(&ids[t], NULL, lgn_run_slice, &jobs[t]) == 0;
    if (used)
        lgn_run_slice(&jobs[0]);
    for (t = 1; t < used; ++t) {
        if (started[t])
            pthread_join(ids[t], NULL);
        else
            lgn_run_slice(&jobs[t]);
    }
#else
    for (t = 0; t < used; ++t)
        lgn_run_slice(&jobs[t]);
#endif
}

/* The index of the largest score, ties to the lowest. */
static inline int lgn_argmax(const uint32_t *scores, int num_classes)
{
    int best = 0;
    int c;

    for (c = 1; c < num_classes; ++c)
        if (scores[c] > scores[best])
            best = c;
    return best;
}

/* The one-sample path keeps one bit per slot: slot i is bit i % 32 of work[i / 32].
 * Inlined even at -Os: a call per operand was half of the one-sample path on a Cortex-M. */
static LGN_INLINE unsigned lgn_get(const uint32_t *work, size_t slot)
{
    return (unsigned)(work[slot / 32] >> (slot % 32)) & 1u;
}

/* value is 0 or 1 (no branch: the one-sample path's cost does not depend on the data). */
static LGN_INLINE void lgn_put(uint32_t *work, size_t slot, unsigned value)
{
    work[slot / 32] = (work[slot / 32] & ~((uint32_t)1 << (slot % 32)))
                      | ((uint32_t)value << (slot % 32));
}

/* One sample's input bytes (any nonzero byte is a 1) -> slots 0 .. num_inputs-1. */
static inline void lgn_put_bytes(uint32_t *work, const uint8_t *bits, size_t num_inputs)
{
    size_t i;

    for (i = 0; i < num_inputs; ++i)
        lgn_put(work, i, bits[i] != 0);
}

/* One sample's packed bits (num_bytes of them) -> the first slots. Slot i is bit i % 32
 * of word i / 32: the packed bytes are the first words, little end first. Bits past the
 * last input land in slots that are written before they are read. */
static inline void lgn_put_packed(uint32_t *work, const uint8_t *packed, size_t num_bytes)
{
    size_t i;

    for (i = 0; i < num_bytes; i += 4) {
        uint32_t word = 0;
        size_t j;

        for (j = 0; j < 4 && i + j < num_bytes; ++j)
            word |= (uint32_t)packed[i + j] << (8 * j);
        work[i / 4] = word;
    }
}

/* Every gate of `net` on the one sample whose slots are in `work` (inputs and constants
 * in place), one bit at a time. */
static inline void lgn_interpret(const struct lgn_net *net, uint32_t *work)
{
    const lgn_slot *p = net->wiring;
    const uint64_t *lut = net->luts;
    size_t i, r, k;

    for (r = 0; r < net->num_runs; ++r) {
        const struct lgn_kernel *kernel = &net->kernels[net->runs[r].kernel];
        const size_t n = net->runs[r].count;
        const uint32_t table = (uint32_t)kernel->table; /* all of it for arity <= 5 */

        /* Two- and one-input kernels (most gates) unrolled on a 32-bit table: on a
         * Cortex-M4 about half the instructions of the general loop below. */
        if (kernel->arity == 2 && !kernel->generic) {
            for (i = 0; i < n; ++i, p += 3)
                lgn_put(work, p[0], (table >> (lgn_get(work, p[1])
                                               | lgn_get(work, p[2]) << 1)) & 1u);
        } else if (kernel->arity == 1 && !kernel->generic) {
            for (i = 0; i < n; ++i, p += 2)
                lgn_put(work, p[0], (table >> lgn_get(work, p[1])) & 1u);
        } else {
            for (i = 0; i < n; ++i, p += kernel->arity + 1) {
                const uint64_t wide = kernel->generic ? *lut++ : kernel->table;
                unsigned index = 0;

                for (k = 0; k < kernel->arity; ++k)
                    index |= lgn_get(work, p[k + 1]) << k;
                lgn_put(work, p[0], (unsigned)(wide >> index) & 1u);
            }
        }
    }
}

/* The one-sample program of a net of 2-input gates (lgn-compile's <name>_pairs; nets with
 * wider gates, or more than 16,384 workspace bits, take lgn_interpret): one uint32_t per
 * gate, its truth table in bits 0-3 (indexed a | b << 1) and the workspace bits of its
 * operands a and b in bits 4-17 and 18-31. Results are not slots but consecutive bits:
 * the gates fill the words from `out` on, 32 gates a word, each result shifted in at the
 * top (the word's first gate ends up at bit 0; the last word's n gates at bits 32-n..31)
 * and the word stored after every gate, so that the next gates can read it. Each operand
 * field is where its bit is when the gate runs (the emitter knows), so no result slot
 * is stored and no table loaded per gate: about half the flash and instructions of
 * lgn_interpret on a Cortex-M (4 bytes a gate, ~18 Cortex-M4 instructions). The
 * operands are read with shifts only (no mask constants: the Cortex-M0+ has few
 * registers). */
static inline void lgn_pairs(const uint32_t *pairs, size_t num_gates, uint32_t *out,
                             const uint32_t *work)
{
    const uint32_t *const end = pairs + num_gates;

    while (pairs < end) {
        const uint32_t *const stop = end - pairs > 32 ? pairs + 32 : end;
        uint32_t word = 0;

        do {
            const uint32_t gate = *pairs++;
            const uint32_t a = gate << 14 >> 18, b = gate >> 18;
            const uint32_t index = (work[a / 32] >> (a % 32) << 31 >> 31)
                                   | (work[b / 32] >> (b % 32) << 31 >> 30);

            word = (word >> 1) | (gate >> index << 31);
            *out = word;
        } while (pairs < stop);
        ++out;
    }
}

/* A model's class groups in the one-sample workspace: class c counts the bits masks[k]
 * of work[words[k]] for k = starts[c] .. starts[c+1]-1, plus base[c] (a bit that counts
 * twice is in two masks). The pair program puts each class's output gates side by side,
 * so a word of 32 output bits costs one masked popcount, not 32 bit reads. */
struct lgn_masks {
    const lgn_slot *words; /* a word index is at most a slot index / 32 */
    const uint32_t *masks;
    const uint32_t *starts;
    const uint32_t *base;
    size_t num_classes;
};

/* Set bits of x (no popcount instruction on a Cortex-M). */
static LGN_INLINE uint32_t lgn_popcount32(uint32_t x)
{
    x -= (x >> 1) & 0x55555555u;
    x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
    return (((x + (x >> 4)) & 0x0F0F0F0Fu) * 0x01010101u) >> 24;
}

/* The class scores of the one sample evaluated in `work`. */
static inline void lgn_mask_scores(const struct lgn_masks *g, const uint32_t *work,
                                   uint32_t *scores)
{
    size_t c, k;

    for (c = 0; c < g->num_classes; ++c) {
        uint32_t score = g->base[c];
        for (k = g->starts[c]; k < g->starts[c + 1]; ++k)
            score += lgn_popcount32(work[g->words[k]] & g->masks[k]);
        scores[c] = score;
    }
}

#endif /* LGN_RUNTIME_H */
