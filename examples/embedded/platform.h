/* What main.c needs from where it runs: text output, an exit code, an instruction
 * counter and the stack high-water mark. cortex_m.c implements it bare metal (semihosting,
 * SysTick, stack painting), host.c with stdio (no counter, no stack figure). */
#ifndef PLATFORM_H
#define PLATFORM_H

#include <stdint.h>

void platform_init(void);
void platform_print(const char *text);
void platform_exit(int code);

/* A running count; platform_instructions(a, b) turns two readings into instructions
 * executed between them, or returns 0 where that is not measured. */
uint32_t platform_counter(void);
uint32_t platform_instructions(uint32_t start, uint32_t end);

#if defined(__arm__) && !defined(__linux__)
#define PLATFORM_STACK_PATTERN 0x5AC3A5C3u
extern uint32_t __stack_limit;

/* Inlined into the caller so that its own frame stays where it is: paints the free stack
 * below the caller's frame, and later finds the lowest word anything below it wrote. */
static inline __attribute__((always_inline)) uint32_t *platform_stack_pointer(void)
{
    uint32_t *sp;

    __asm__ volatile("mov %0, sp" : "=r"(sp));
    return sp;
}

static inline __attribute__((always_inline)) void platform_paint_stack(void)
{
    uint32_t *p = &__stack_limit, *const sp = platform_stack_pointer();

    while (p < sp)
        *p++ = PLATFORM_STACK_PATTERN;
}

/* Bytes of stack used below the caller's frame since platform_paint_stack. */
static inline __attribute__((always_inline)) uint32_t platform_stack_used(void)
{
    const uint32_t *p = &__stack_limit, *const sp = platform_stack_pointer();

    while (p < sp && *p == PLATFORM_STACK_PATTERN)
        ++p;
    return (uint32_t)((uintptr_t)sp - (uintptr_t)p);
}
#else
#define platform_paint_stack() ((void)0)
#define platform_stack_used() ((uint32_t)0)
#endif

#endif /* PLATFORM_H */
