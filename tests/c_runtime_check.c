/* Unit checks of templates/lgn_runtime.h (driven by tests/test_c_runtime.py).
 *
 * Reads jobs from stdin until EOF and writes each job's result to stdout. Every number in
 * is a little-endian uint64_t; a job is its operation code, then that operation's
 * parameters and data (arrays of uint64_t, or of bytes where named so). Results are raw
 * uint64_t or uint32_t arrays. Built with -DLGN_WORD_BITS, -DLGN_COUNT_BITS, -DLGN_SLOT_BITS.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lgn_runtime.h"

enum { PACK = 1, TRANSPOSE, POPCOUNT, COUNT, LOOKUP, SLICES, CLASSIFY, CONFIG, PAIRS };

static int get(uint64_t *v)
{
    return fread(v, sizeof *v, 1, stdin) == 1;
}

static uint64_t need(void)
{
    uint64_t v;

    if (!get(&v))
        exit(3);
    return v;
}

/* n uint64_t from stdin into a fresh buffer (with `spare` more zeroed ones after them). */
static uint64_t *need_words(size_t n, size_t spare)
{
    uint64_t *words = calloc(n + spare + 1, sizeof *words);

    if (!words || fread(words, sizeof *words, n, stdin) != n)
        exit(3);
    return words;
}

static uint8_t *need_bytes(size_t n)
{
    uint8_t *bytes = malloc(n + 64);

    if (!bytes || fread(bytes, 1, n, stdin) != n)
        exit(3);
    return bytes;
}

/* n uint64_t from stdin as 2- or 4-byte unsigned integers (`size`), then 16 zero entries
 * (for slots: the 16-wide adder tree's spare reads). */
static void *need_array(size_t n, size_t size)
{
    uint64_t *words = need_words(n, 0);
    void *out = calloc(n + 16, size);
    size_t i;

    if (!out)
        exit(3);
    for (i = 0; i < n; ++i) {
        if (size == 2)
            ((uint16_t *)out)[i] = (uint16_t)words[i];
        else
            ((uint32_t *)out)[i] = (uint32_t)words[i];
    }
    free(words);
    return out;
}

#define need_slots(n) ((lgn_slot *)need_array((n), sizeof(lgn_slot)))
#define need_u32(n) ((uint32_t *)need_array((n), sizeof(uint32_t)))

/* A zeroed, 64-byte aligned work area of `words` lgn_words; *base is what to free. */
static lgn_word *words_area(size_t words, uint64_t **base)
{
    *base = calloc(words * LGN_LANES + 8, sizeof **base);
    if (!*base)
        exit(3);
    return lgn_align(*base);
}

static void put(const void *data, size_t size, size_t n)
{
    fwrite(data, size, n, stdout);
}

/* PACK: packed, num_inputs, count, then count samples (bytes) -> the input slots' words. */
static void pack(void)
{
    const int packed = (int)need();
    const size_t num_inputs = need(), count = need();
    const size_t sample_bytes = packed ? (num_inputs + 7) / 8 : num_inputs;
    const size_t tiles = (num_inputs + 63) / 64 * 64;
    uint8_t *in = need_bytes(count * sample_bytes);
    uint64_t *base;
    lgn_word *w = words_area(tiles, &base);

    lgn_pack(in, packed, sample_bytes, num_inputs, count, w);
    put(w, sizeof *w, num_inputs);
    free(in), free(base);
}

/* TRANSPOSE: 64 words -> the 64 words transposed, lane by lane. */
static void transpose(void)
{
    uint64_t *in = need_words(64 * LGN_LANES, 0), *base;
    lgn_word *a = words_area(64, &base);

    memcpy(a, in, 64 * sizeof *a);
    lgn_transpose64(a);
    put(a, sizeof *a, 64);
    free(in), free(base);
}

/* POPCOUNT: num_slots, size, the slots' words, the group's `size` slots -> the
 * LGN_COUNT_BITS counter planes. */
static void popcount(void)
{
    const size_t num_slots = need(), size = need();
    uint64_t *in = need_words(num_slots * LGN_LANES, 0), *base;
    lgn_slot *group = need_slots(size);
    lgn_word *w = words_area(num_slots, &base);
    lgn_word counter[LGN_COUNT_BITS];

    memcpy(w, in, num_slots * sizeof *w);
    lgn_popcount(w, group, size, counter);
    put(counter, sizeof *counter, LGN_COUNT_BITS);
    free(in), free(group), free(base);
}

/* COUNT: num_slots, num_classes, count, the slots' words, starts (num_classes + 1),
 * outputs (starts[num_classes]), base (num_classes) -> count x num_classes uint32 scores. */
static void count_scores(void)
{
    const size_t num_slots = need(), num_classes = need(), count = need();
    uint64_t *in = need_words(num_slots * LGN_LANES, 0), *base;
    uint32_t *starts = need_u32(num_classes + 1);
    lgn_slot *outputs = need_slots(starts[num_classes]);
    uint32_t *add = need_u32(num_classes);
    uint32_t *scores = calloc(count * num_classes + 1, sizeof *scores);
    lgn_word *w = words_area(num_slots, &base);
    const struct lgn_groups groups = {outputs, starts, add, num_classes};

    memcpy(w, in, num_slots * sizeof *w);
    lgn_count(w, count, &groups, scores);
    put(scores, sizeof *scores, count * num_classes);
    free(in), free(starts), free(outputs), free(add), free(scores), free(base);
}

/* LOOKUP: table, arity, num_slots, the slots' words, the arity operand slots -> a word. */
static void lookup(void)
{
    const uint64_t table = need();
    const unsigned arity = (unsigned)need();
    const size_t num_slots = need();
    uint64_t *in = need_words(num_slots * LGN_LANES, 0), *base;
    lgn_slot *ops = need_slots(arity);
    lgn_word *w = words_area(num_slots + 1, &base);

    memcpy(w, in, num_slots * sizeof *w);
    w[num_slots] = lgn_lookup(table, arity, w, ops);
    put(w + num_slots, sizeof *w, 1);
    free(in), free(ops), free(base);
}

/* A stand-in batch for SLICES: scores[s][c] = 1000 * in[s][c % sample_bytes] + 10 * c +
 * packed, and work[0] counts the calls that were given this work area. */
static size_t slice_sample_bytes, slice_classes;

static void fake_batch(const uint8_t *in, int packed, size_t count, uint32_t *scores,
                       uint64_t *work)
{
    size_t s, c;

    for (s = 0; s < count; ++s)
        for (c = 0; c < slice_classes; ++c)
            scores[s * slice_classes + c] =
                (uint32_t)(1000 * in[s * slice_sample_bytes + c % slice_sample_bytes]
                           + 10 * c + (size_t)packed);
    work[0] += 1;
}

/* SLICES: packed, sample_bytes, num_classes, num_samples, threads, work_words, the samples
 * (bytes) -> the scores (uint32), then the calls per work area (threads words). */
static void slices(void)
{
    const int packed = (int)need();
    const size_t sample_bytes = need(), num_classes = need(), num_samples = need();
    const unsigned threads = (unsigned)need();
    const size_t work_words = need();
    uint8_t *in = need_bytes(num_samples * sample_bytes);
    uint32_t *scores = calloc(num_samples * num_classes + 1, sizeof *scores);
    uint64_t *work = calloc(work_words * LGN_MAX_THREADS, sizeof *work);
    unsigned t;

    slice_sample_bytes = sample_bytes, slice_classes = num_classes;
    lgn_run_slices(fake_batch, in, packed, sample_bytes, num_samples, num_classes, scores,
                   work, work_words, threads);
    put(scores, sizeof *scores, num_samples * num_classes);
    for (t = 0; t < LGN_MAX_THREADS; ++t)
        put(work + t * work_words, sizeof *work, 1);
    free(in), free(scores), free(work);
}

/* CLASSIFY: num_slots, packed, num_inputs, num_kernels, kernels (arity, generic, table
 * each), num_runs, runs (kernel, count each), wiring length, wiring, luts length, luts,
 * num_classes, mask starts, mask words, masks, base (struct lgn_masks), num_consts, consts
 * (slot, value each), the sample
 * (bytes, or packed) -> scores (uint32), then the argmax (uint32). */
static void classify(void)
{
    const size_t num_slots = need();
    const int packed = (int)need();
    const size_t num_inputs = need(), num_kernels = need();
    struct lgn_kernel *kernels = calloc(num_kernels + 1, sizeof *kernels);
    struct lgn_run *runs;
    size_t num_runs, n, i, num_classes;
    lgn_slot *wiring;
    uint64_t *luts;
    uint32_t *starts, *masks, *add, *scores, *work;
    lgn_slot *words;
    uint8_t *sample;
    uint32_t best;

    for (i = 0; i < num_kernels; ++i) {
        kernels[i].arity = (unsigned char)need();
        kernels[i].generic = (unsigned char)need();
        kernels[i].table = need();
    }
    num_runs = need();
    runs = calloc(num_runs + 1, sizeof *runs);
    for (i = 0; i < num_runs; ++i) {
        runs[i].kernel = (unsigned short)need();
        runs[i].count = (uint32_t)need();
    }
    n = need();
    wiring = need_slots(n);
    n = need();
    luts = need_words(n, 0);
    num_classes = need();
    starts = need_u32(num_classes + 1);
    words = need_slots(starts[num_classes]);
    masks = need_u32(starts[num_classes]);
    add = need_u32(num_classes);
    scores = calloc(num_classes, sizeof *scores);
    work = calloc((num_slots + 31) / 32 + 1, sizeof *work);
    {
        const struct lgn_net net = {kernels, runs, num_runs, wiring, luts};
        const struct lgn_masks groups = {words, masks, starts, add, num_classes};
        const size_t num_consts = need();
        uint64_t *consts = need_words(2 * num_consts, 0);

        sample = need_bytes(packed ? (num_inputs + 7) / 8 : num_inputs);
        if (packed)
            lgn_put_packed(work, sample, (num_inputs + 7) / 8);
        else
            lgn_put_bytes(work, sample, num_inputs);
        for (i = 0; i < num_consts; ++i) /* after the inputs, as <name>_classify_work */
            lgn_put(work, consts[2 * i], (unsigned)consts[2 * i + 1]);
        free(consts);
        lgn_interpret(&net, work);
        lgn_mask_scores(&groups, work, scores);
        best = (uint32_t)lgn_argmax(scores, (int)num_classes);
    }
    put(scores, sizeof *scores, num_classes);
    put(&best, sizeof best, 1);
    free(kernels), free(runs), free(wiring), free(luts), free(starts), free(words);
    free(masks), free(add), free(scores), free(work), free(sample);
}

/* PAIRS: num_words, work (num_words), num_gates, pairs, first_word, num_classes,
 * starts (num_classes + 1), words, masks (starts[num_classes] each), base -> the work
 * after lgn_pairs (uint32), then lgn_mask_scores' scores (uint32). */
static void pairs(void)
{
    const size_t num_words = need();
    uint32_t *work = need_u32(num_words);
    const size_t num_gates = need();
    uint32_t *program = need_u32(num_gates);
    const size_t first_word = need(), num_classes = need();
    uint32_t *starts = need_u32(num_classes + 1);
    lgn_slot *words = need_slots(starts[num_classes]);
    uint32_t *masks = need_u32(starts[num_classes]), *base = need_u32(num_classes);
    uint32_t *scores = calloc(num_classes + 1, sizeof *scores);
    const struct lgn_masks groups = {words, masks, starts, base, num_classes};

    lgn_pairs(program, num_gates, work + first_word, work);
    lgn_mask_scores(&groups, work, scores);
    put(work, sizeof *work, num_words);
    put(scores, sizeof *scores, num_classes);
    free(work), free(program), free(starts), free(words), free(masks), free(base);
    free(scores);
}

int main(void)
{
    uint64_t op;

    while (get(&op)) {
        switch (op) {
        case PACK: pack(); break;
        case TRANSPOSE: transpose(); break;
        case POPCOUNT: popcount(); break;
        case COUNT: count_scores(); break;
        case LOOKUP: lookup(); break;
        case SLICES: slices(); break;
        case CLASSIFY: classify(); break;
        case PAIRS: pairs(); break;
        case CONFIG: {
            const uint64_t config[3] = {LGN_WORD_BITS, LGN_COUNT_BITS, sizeof(lgn_slot) * 8};
            put(config, sizeof config[0], 3);
            break;
        }
        default: return 2;
        }
    }
    return 0;
}
