/* The platform on a host (quick checks): stdio, exit; no counter or stack figure. */
#include <stdio.h>
#include <stdlib.h>

#include "platform.h"

void platform_init(void)
{
}

void platform_print(const char *text)
{
    fputs(text, stdout);
}

void platform_exit(int code)
{
    exit(code);
}

uint32_t platform_counter(void)
{
    return 0;
}

uint32_t platform_instructions(uint32_t start, uint32_t end)
{
    (void)start;
    (void)end;
    return 0;
}
