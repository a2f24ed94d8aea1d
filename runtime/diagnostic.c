#include "diagnostic.h"

#include <string.h>

void diagnostic_print(FILE *out, const char *source_name, const char *source, size_t source_len,
		      int line, int col, const char *level, const char *message)
{
	if (line <= 0) {
		fprintf(out, "%s: %s: %s\n", source_name, level, message);
		return;
	}
	fprintf(out, "%s:%d:%d: %s: %s\n", source_name, line, col, level, message);
	const char *p = source, *end = source + source_len;
	for (int l = 1; l < line && p < end; l++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		p = nl ? nl + 1 : end;
	}
	if (p >= end)
		return;
	const char *eol = memchr(p, '\n', (size_t)(end - p));
	int len = (int)((eol ? eol : end) - p);
	fprintf(out, "%5d | %.*s\n      | ", line, len, p);
	/* Tabs stay tabs so the caret lines up under them. */
	for (int i = 0; i < col - 1 && i < len; i++)
		fputc(p[i] == '\t' ? '\t' : ' ', out);
	fputs("^\n", out);
}

void diagnostic_report(FILE *out, const struct diagnostic_source *src, const struct diagnostic *d)
{
	if (!strcmp(d->file, src->name))
		diagnostic_print(out, src->name, src->text, src->len, d->line, d->col, d->level,
				 d->message);
	else if (d->line > 0)
		fprintf(out, "%s:%d:%d: %s: %s\n", d->file, d->line, d->col, d->level, d->message);
	else
		fprintf(out, "%s: %s\n", d->level, d->message);
}
