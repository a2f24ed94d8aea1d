/* libFuzzer target: the parser of tracepoint format files (runtime/tracefs.c), which turns
 * a format file into the C struct of a TRACEPOINT_PROBE's args. Built and run by
 * scripts/fuzz.sh, seeded with this machine's format files (scripts/fuzz_seeds.lua). */
#include "tracefs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *format = malloc(size + 1);
	if (!format)
		return 0;
	memcpy(format, data, size);
	format[size] = '\0';
	char *text = NULL;
	if (tracefs_format_struct("fuzz", "event", format, &text) == 0)
		free(text);
	free(format);
	return 0;
}
