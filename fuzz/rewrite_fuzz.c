/* libFuzzer target: the bcc-style source rewrite (runtime/rewrite.c) on any text, as
 * BPF{text = ...} hands it over. Built and run by scripts/fuzz.sh, seeded with the BPF C of the
 * specs and scripts (scripts/fuzz_seeds.lua). */
#include "rewrite.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Lua strings end in a NUL byte beyond their length; so does this copy. */
	char *source = malloc(size + 1);
	if (!source)
		return 0;
	memcpy(source, data, size);
	source[size] = '\0';
	struct rewrite_result result;
	char *error = NULL;
	if (rewrite_source(source, size, "<fuzz>", &result, &error) == 0)
		rewrite_result_free(&result);
	free(error);
	free(source);
	return 0;
}
