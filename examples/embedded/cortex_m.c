/* Bare-metal start-up and platform for Cortex-M under QEMU (or a board with a debugger):
 * the vector table, the reset handler (copies .data, zeroes .bss, calls main), output
 * and exit through semihosting, and an instruction count from SysTick.
 *
 * Counting: QEMU models no DWT cycle counter, but with `-icount shift=0` its virtual clock
 * advances exactly 1 ns per instruction, so SysTick (on the core clock) ticks once per
 * fixed number of instructions; platform_init measures that number on a loop of known
 * length. On real silicon the same readings are core cycles. */
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

int main(void);
void reset_handler(void);

extern uint32_t __stack_top, __data_start, __data_end, __data_load, __bss_start, __bss_end;

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define SYST_MAX 0xFFFFFFu /* SysTick is a 24-bit down counter */

#define SYS_WRITE0 0x04
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026 /* QEMU exits 0 */
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023   /* QEMU exits 1 */

static uint32_t calibration_ticks; /* SysTick ticks per CALIBRATION instructions */
#define CALIBRATION (1u << 20)

static uint32_t semihost(uint32_t operation, const void *argument)
{
    register uint32_t r0 __asm__("r0") = operation;
    register const void *r1 __asm__("r1") = argument;

    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void platform_print(const char *text)
{
    semihost(SYS_WRITE0, text);
}

void platform_exit(int code)
{
    semihost(SYS_EXIT, (const void *)(uintptr_t)(code == 0 ? ADP_STOPPED_APPLICATION_EXIT
                                                           : ADP_STOPPED_RUN_TIME_ERROR));
    for (;;)
        continue;
}

uint32_t platform_counter(void)
{
    return SYST_CVR;
}

/* Two instructions per round (subs, bne), `rounds` >= 1. */
static void spin(uint32_t rounds)
{
    /* gcc wraps inline assembly in divided syntax on Thumb-1: ask for unified. */
    __asm__ volatile(".syntax unified\n1:\tsubs %0, %0, #1\n\tbne 1b\n\t.syntax divided"
                     : "+l"(rounds) : : "cc");
}

static uint32_t ticks_between(uint32_t start, uint32_t end)
{
    return (start - end) & SYST_MAX; /* counts down */
}

void platform_init(void)
{
    uint32_t t0, t1, t2;

    SYST_RVR = SYST_MAX;
    SYST_CVR = 0;
    SYST_CSR = 5u; /* enabled, core clock, no interrupt */
    t0 = SYST_CVR;
    spin(1000);
    t1 = SYST_CVR;
    spin(1000 + CALIBRATION / 2); /* CALIBRATION more instructions than the first spin */
    t2 = SYST_CVR;
    calibration_ticks = ticks_between(t1, t2) - ticks_between(t0, t1);
}

uint32_t platform_instructions(uint32_t start, uint32_t end)
{
    if (calibration_ticks == 0)
        return 0;
    return (uint32_t)(((uint64_t)ticks_between(start, end) * CALIBRATION
                       + calibration_ticks / 2) / calibration_ticks);
}

static void fault_handler(void)
{
    platform_print("fault\n");
    platform_exit(1);
}

void reset_handler(void)
{
    const uint32_t *from = &__data_load;
    uint32_t *to;

    for (to = &__data_start; to < &__data_end;)
        *to++ = *from++;
    for (to = &__bss_start; to < &__bss_end;)
        *to++ = 0;
    platform_exit(main());
}

/* Initial stack pointer, then the reset, NMI, hard fault and (ARMv7-M) memory, bus and
 * usage fault handlers; interrupts are never enabled. */
__attribute__((section(".vectors"), used)) static const uintptr_t vectors[7] = {
    (uintptr_t)&__stack_top,      (uintptr_t)reset_handler, (uintptr_t)fault_handler,
    (uintptr_t)fault_handler,     (uintptr_t)fault_handler, (uintptr_t)fault_handler,
    (uintptr_t)fault_handler,
};

/* gcc may call these even in freestanding code (struct copies, zeroing loops). */
void *memcpy(void *restrict to, const void *restrict from, size_t n)
{
    unsigned char *d = to;
    const unsigned char *s = from;

    while (n--)
        *d++ = *s++;
    return to;
}

void *memset(void *to, int value, size_t n)
{
    unsigned char *d = to;

    while (n--)
        *d++ = (unsigned char)value;
    return to;
}
