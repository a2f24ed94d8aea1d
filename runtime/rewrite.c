#define _GNU_SOURCE
#include "rewrite.h"
#include "diagnostic.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- What tables there are and which methods each kind has ---------------------------- */

struct method {
	const char *name;
	const char *helper;        /* generic macro in bpf/bpflua/tables.h, called (table, ...) */
};

struct table_kind {
	const char *label;         /* how errors name the kind */
	const struct method *methods;
};

static const struct method key_value_methods[] = {
	{"lookup", "bpflua_map_lookup"},
	{"lookup_or_try_init", "bpflua_map_lookup_or_try_init"},
	{"lookup_or_init", "bpflua_map_lookup_or_init"},
	{"update", "bpflua_map_update"},
	{"insert", "bpflua_map_insert"},
	{"delete", "bpflua_map_delete"},
	{"increment", "bpflua_map_increment"},
	{"atomic_increment", "bpflua_map_atomic_increment"},
	{NULL, NULL},
};

static const struct method ringbuf_methods[] = {
	{"ringbuf_output", "bpflua_ringbuf_output"},
	{"ringbuf_reserve", "bpflua_ringbuf_reserve"},
	{"ringbuf_submit", "bpflua_ringbuf_submit"},
	{"ringbuf_discard", "bpflua_ringbuf_discard"},
	{"ringbuf_query", "bpflua_ringbuf_query"},
	{NULL, NULL},
};

static const struct method perf_output_methods[] = {
	{"perf_submit", "bpflua_perf_submit"},
	{NULL, NULL},
};

static const struct method stack_trace_methods[] = {
	{"get_stackid", "bpflua_get_stackid"},
	{NULL, NULL},
};

static const struct table_kind ringbuf_kind = {"BPF_RINGBUF_OUTPUT", ringbuf_methods};
static const struct table_kind perf_output_kind = {"BPF_PERF_OUTPUT", perf_output_methods};
static const struct table_kind stack_trace_kind = {"BPF_STACK_TRACE", stack_trace_methods};
static const struct table_kind hash_kind = {"BPF_HASH", key_value_methods};
static const struct table_kind array_kind = {"BPF_ARRAY", key_value_methods};
static const struct table_kind histogram_kind = {"BPF_HISTOGRAM", key_value_methods};
static const struct table_kind percpu_hash_kind = {"BPF_PERCPU_HASH", key_value_methods};
static const struct table_kind percpu_array_kind = {"BPF_PERCPU_ARRAY", key_value_methods};
static const struct table_kind lru_hash_kind = {"BPF_LRU_HASH", key_value_methods};
static const struct table_kind table_kind = {"BPF_TABLE", key_value_methods};

/* Program arrays: name.call(ctx, index) is a tail call. */
static const struct method prog_array_methods[] = {
	{"call", "bpflua_prog_array_call"},
	{NULL, NULL},
};
static const struct table_kind prog_array_kind = {"BPF_PROG_ARRAY", prog_array_methods};

static const struct method queue_methods[] = {
	{"push", "bpflua_queue_push"},
	{"pop", "bpflua_queue_pop"},
	{"peek", "bpflua_queue_peek"},
	{NULL, NULL},
};
static const struct method map_of_maps_methods[] = {
	{"lookup", "bpflua_map_of_maps_lookup"},
	{NULL, NULL},
};
static const struct method cgroup_array_methods[] = {
	{"check_current_task", "bpflua_cgroup_check_current_task"},
	{NULL, NULL},
};
static const struct method local_storage_methods[] = {
	{"task_storage_get", "bpflua_task_storage_get"},
	{"task_storage_delete", "bpflua_task_storage_delete"},
	{"inode_storage_get", "bpflua_inode_storage_get"},
	{"inode_storage_delete", "bpflua_inode_storage_delete"},
	{"sk_storage_get", "bpflua_sk_storage_get"},
	{"sk_storage_delete", "bpflua_sk_storage_delete"},
	{NULL, NULL},
};
static const struct table_kind queue_kind = {"BPF_QUEUE", queue_methods};
static const struct table_kind stack_kind = {"BPF_STACK", queue_methods};
static const struct table_kind lpm_trie_kind = {"BPF_LPM_TRIE", key_value_methods};
static const struct table_kind lru_percpu_hash_kind = {"BPF_LRU_PERCPU_HASH", key_value_methods};
static const struct table_kind array_of_maps_kind = {"BPF_ARRAY_OF_MAPS", map_of_maps_methods};
static const struct table_kind hash_of_maps_kind = {"BPF_HASH_OF_MAPS", map_of_maps_methods};
static const struct table_kind cgroup_array_kind = {"BPF_CGROUP_ARRAY", cgroup_array_methods};
static const struct table_kind task_storage_kind = {"BPF_TASK_STORAGE", local_storage_methods};
static const struct table_kind inode_storage_kind = {"BPF_INODE_STORAGE", local_storage_methods};
static const struct table_kind sk_storage_kind = {"BPF_SK_STORAGE", local_storage_methods};

struct declaration_macro {
	const char *macro;
	int name_arg;              /* which argument names the table */
	const struct table_kind *kind;
};

static const struct declaration_macro declaration_macros[] = {
	{"BPF_HASH", 0, &hash_kind},
	{"BPF_ARRAY", 0, &array_kind},
	{"BPF_HISTOGRAM", 0, &histogram_kind},
	{"BPF_PERCPU_HASH", 0, &percpu_hash_kind},
	{"BPF_PERCPU_ARRAY", 0, &percpu_array_kind},
	{"BPF_LRU_HASH", 0, &lru_hash_kind},
	{"BPF_TABLE", 3, &table_kind},
	{"BPF_RINGBUF_OUTPUT", 0, &ringbuf_kind},
	{"BPF_PERF_OUTPUT", 0, &perf_output_kind},
	{"BPF_STACK_TRACE", 0, &stack_trace_kind},
	{"BPF_PROG_ARRAY", 0, &prog_array_kind},
	{"BPF_QUEUE", 0, &queue_kind},
	{"BPF_STACK", 0, &stack_kind},
	{"BPF_LPM_TRIE", 0, &lpm_trie_kind},
	{"BPF_LRU_PERCPU_HASH", 0, &lru_percpu_hash_kind},
	{"BPF_PERCPU_LRU_HASH", 0, &lru_percpu_hash_kind},
	{"BPF_ARRAY_OF_MAPS", 0, &array_of_maps_kind},
	{"BPF_HASH_OF_MAPS", 0, &hash_of_maps_kind},
	{"BPF_CGROUP_ARRAY", 0, &cgroup_array_kind},
	{"BPF_TASK_STORAGE", 0, &task_storage_kind},
	{"BPF_INODE_STORAGE", 0, &inode_storage_kind},
	{"BPF_SK_STORAGE", 0, &sk_storage_kind},
	{"BPF_TABLE_PINNED", 3, &table_kind},
	{"BPF_TABLE_PUBLIC", 3, &table_kind},
	{"BPF_TABLE_SHARED", 3, &table_kind},
	{NULL, 0, NULL},
};

/* ---- Tokens ------------------------------------------------------------------------------ */

enum token_type { TOK_END, TOK_IDENT, TOK_NUMBER, TOK_STRING, TOK_PUNCT };

struct token {
	enum token_type type;
	size_t start, len;
	int line, col;
};

struct scanner {
	const char *src;
	size_t len, pos;
	int line;
	size_t line_start;
};

static void advance(struct scanner *s)
{
	if (s->src[s->pos] == '\n') {
		s->line++;
		s->line_start = s->pos + 1;
	}
	s->pos++;
}

/* Skips white space and comments; look-alikes inside comments are never tokens. */
static void skip_blank(struct scanner *s)
{
	while (s->pos < s->len) {
		char c = s->src[s->pos];
		char n = s->pos + 1 < s->len ? s->src[s->pos + 1] : '\0';
		if (isspace((unsigned char)c) || (c == '\\' && n == '\n')) {
			advance(s);
		} else if (c == '/' && n == '/') {
			while (s->pos < s->len && s->src[s->pos] != '\n') {
				if (s->src[s->pos] == '\\' && s->pos + 1 < s->len)
					advance(s);
				advance(s);
			}
		} else if (c == '/' && n == '*') {
			advance(s);
			advance(s);
			while (s->pos < s->len &&
			       !(s->src[s->pos] == '*' && s->pos + 1 < s->len && s->src[s->pos + 1] == '/'))
				advance(s);
			if (s->pos < s->len) {
				advance(s);
				advance(s);
			}
		} else {
			break;
		}
	}
}

static struct token next_token(struct scanner *s)
{
	skip_blank(s);
	struct token t = {TOK_END, s->pos, 0, s->line, (int)(s->pos - s->line_start) + 1};
	if (s->pos >= s->len)
		return t;
	char c = s->src[s->pos];
	if (isalpha((unsigned char)c) || c == '_' || c == '$') {
		t.type = TOK_IDENT;
		while (s->pos < s->len && (isalnum((unsigned char)s->src[s->pos]) ||
					   s->src[s->pos] == '_' || s->src[s->pos] == '$'))
			advance(s);
	} else if (isdigit((unsigned char)c)) {
		t.type = TOK_NUMBER;
		while (s->pos < s->len && (isalnum((unsigned char)s->src[s->pos]) ||
					   s->src[s->pos] == '.' || s->src[s->pos] == '_'))
			advance(s);
	} else if (c == '"' || c == '\'') {
		/* Strings and character constants: their contents are never tokens. */
		t.type = TOK_STRING;
		advance(s);
		while (s->pos < s->len && s->src[s->pos] != c && s->src[s->pos] != '\n') {
			if (s->src[s->pos] == '\\' && s->pos + 1 < s->len)
				advance(s);
			advance(s);
		}
		if (s->pos < s->len && s->src[s->pos] == c)
			advance(s);
	} else if (c == '-' && s->pos + 1 < s->len && s->src[s->pos + 1] == '>') {
		t.type = TOK_PUNCT;
		advance(s);
		advance(s);
	} else {
		t.type = TOK_PUNCT;
		advance(s);
	}
	t.len = s->pos - t.start;
	return t;
}

/* ---- The rewrite ------------------------------------------------------------------------- */

struct table {
	char name[128];
	const struct table_kind *kind;
};

struct rewriter {
	const char *src;
	size_t len;
	const char *source_name;
	struct token *tokens;
	int ntokens;
	struct table *tables;
	int ntables;
	FILE *errors;
	int nerrors;
};

static int tok_is(const struct rewriter *r, int i, const char *text)
{
	if (i < 0 || i >= r->ntokens)
		return 0;
	size_t n = strlen(text);
	return r->tokens[i].len == n && memcmp(r->src + r->tokens[i].start, text, n) == 0;
}

static void tok_copy(const struct rewriter *r, int i, char *buf, size_t size)
{
	size_t n = r->tokens[i].len < size - 1 ? r->tokens[i].len : size - 1;
	memcpy(buf, r->src + r->tokens[i].start, n);
	buf[n] = '\0';
}

static void report(struct rewriter *r, const struct token *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct rewriter *r, const struct token *at, const char *fmt, ...)
{
	char message[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	diagnostic_print(r->errors, r->source_name, r->src, r->len, at->line, at->col, "error",
			 message);
	r->nerrors++;
}

/* Splits the parenthesised argument list that starts at token open into top-level arguments;
 * fills first[] with each argument's first token and returns the count (-1 if unbalanced). */
static int split_args(const struct rewriter *r, int open, int *first, int max, int *close)
{
	int depth = 0, n = 0;
	for (int i = open; i < r->ntokens; i++) {
		if (tok_is(r, i, "(") || tok_is(r, i, "[") || tok_is(r, i, "{")) {
			if (depth++ == 0 && n < max)
				first[n++] = i + 1;
		} else if (tok_is(r, i, ")") || tok_is(r, i, "]") || tok_is(r, i, "}")) {
			if (--depth == 0) {
				*close = i;
				return (n == 1 && first[0] == i) ? 0 : n;
			}
		} else if (depth == 1 && tok_is(r, i, ",") && n < max) {
			first[n++] = i + 1;
		}
	}
	return -1;
}

static const struct table *find_table(const struct rewriter *r, int i)
{
	for (int t = 0; t < r->ntables; t++)
		if (tok_is(r, i, r->tables[t].name))
			return &r->tables[t];
	return NULL;
}

/* The table types BPF_TABLE accepts, as bcc names them (bpf/bpflua/tables.h maps them). */
static const char *const table_types[] = {
	"hash", "histogram", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash",
	"percpu_lru_hash", "lpm_trie", "stacktrace", "perf_output", "cgroup_array", "extern",
	"ringbuf", NULL,
};

/* BPF_TABLE types whose methods are not a key/value table's. */
static const struct {
	const char *type;
	const struct table_kind *kind;
} table_type_kinds[] = {
	{"\"stacktrace\"", &stack_trace_kind},
	{"\"perf_output\"", &perf_output_kind},
	{"\"cgroup_array\"", &cgroup_array_kind},
	{"\"ringbuf\"", &ringbuf_kind},
	{NULL, NULL},
};

/* BPF_TABLE names its type with a string; an unknown one is reported here, where the error
 * can name the string and its position, rather than by the macro's static assertion. */
static int check_table_type(struct rewriter *r, int i)
{
	const struct token *t = &r->tokens[i];
	char type[64] = "";
	if (t->type == TOK_STRING && t->len >= 2 && t->len - 2 < sizeof(type)) {
		memcpy(type, r->src + t->start + 1, t->len - 2);
		type[t->len - 2] = '\0';
	}
	for (int k = 0; table_types[k]; k++)
		if (!strcmp(type, table_types[k]))
			return 0;
	char known[256] = "";
	for (int k = 0; table_types[k]; k++)
		snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s\"%s\"",
			 k ? ", " : "", table_types[k]);
	report(r, t, "BPF_TABLE: unknown table type %.*s (known: %s)", (int)t->len,
	       r->src + t->start, known);
	return -1;
}

static void collect_tables(struct rewriter *r)
{
	for (int i = 0; i + 1 < r->ntokens; i++) {
		if (r->tokens[i].type != TOK_IDENT || !tok_is(r, i + 1, "("))
			continue;
		const struct declaration_macro *d = declaration_macros;
		while (d->macro && !tok_is(r, i, d->macro))
			d++;
		if (!d->macro)
			continue;
		int first[8], close;
		int n = split_args(r, i + 1, first, 8, &close);
		if (n <= d->name_arg || r->tokens[first[d->name_arg]].type != TOK_IDENT)
			continue; /* Clang reports the malformed declaration with its position */
		if (d->kind == &table_kind && check_table_type(r, first[0]) < 0)
			continue;
		struct table *grown = realloc(r->tables, sizeof(*grown) * (size_t)(r->ntables + 1));
		if (!grown)
			return;
		r->tables = grown;
		struct table *t = &r->tables[r->ntables++];
		tok_copy(r, first[d->name_arg], t->name, sizeof(t->name));
		t->kind = d->kind;
		for (int k = 0; d->kind == &table_kind && table_type_kinds[k].type; k++)
			if (tok_is(r, first[0], table_type_kinds[k].type))
				t->kind = table_type_kinds[k].kind;
	}
}

/* bcc names the inner table of BPF_ARRAY_OF_MAPS/BPF_HASH_OF_MAPS with a string; the macros
 * take the table itself (its type shapes the inner maps), so the quotes become spaces, which
 * keeps every column where it was. */
static void unquote_inner_maps(const struct rewriter *r, char *text)
{
	for (int i = 0; i + 1 < r->ntokens; i++) {
		/* BPF_TABLE("ringbuf", ...) is a ring with its drop counter, which BPF_TABLE's
		 * key/value definition cannot be: the same number of letters names the macro that
		 * declares one (bpf/bpflua/tables.h). */
		if (tok_is(r, i, "BPF_TABLE") && tok_is(r, i + 1, "(") && i + 2 < r->ntokens &&
		    tok_is(r, i + 2, "\"ringbuf\"")) {
			static const char ring_macro[9] = {'B', 'P', 'F', 'L', 'U', 'A', '_', 'R', 'B'};
			memcpy(text + r->tokens[i].start, ring_macro, sizeof(ring_macro));
			continue;
		}
		int is_array = tok_is(r, i, "BPF_ARRAY_OF_MAPS"), is_hash = tok_is(r, i, "BPF_HASH_OF_MAPS");
		if ((!is_array && !is_hash) || !tok_is(r, i + 1, "("))
			continue;
		int first[8], close;
		int n = split_args(r, i + 1, first, 8, &close);
		if (n < 3)
			continue;
		const struct token *inner = &r->tokens[first[n - 2]];
		if (inner->type == TOK_STRING && inner->len >= 2) {
			text[inner->start] = ' ';
			text[inner->start + inner->len - 1] = ' ';
		}
	}
}

static void collect_tracepoint(struct rewriter *r, int i, struct rewrite_result *out)
{
	int first[4], close;
	if (split_args(r, i + 1, first, 4, &close) != 2 || r->tokens[first[0]].type != TOK_IDENT ||
	    r->tokens[first[1]].type != TOK_IDENT || first[1] != first[0] + 2) {
		report(r, &r->tokens[i], "TRACEPOINT_PROBE takes a category and an event, "
					 "as in TRACEPOINT_PROBE(syscalls, sys_enter_openat)");
		return;
	}
	struct rewrite_tracepoint *grown =
		realloc(out->tracepoints, sizeof(*grown) * (size_t)(out->ntracepoints + 1));
	if (!grown)
		return;
	out->tracepoints = grown;
	struct rewrite_tracepoint *tp = &out->tracepoints[out->ntracepoints++];
	tok_copy(r, first[0], tp->category, sizeof(tp->category));
	tok_copy(r, first[1], tp->event, sizeof(tp->event));
	tp->line = r->tokens[first[0]].line;
	tp->col = r->tokens[first[0]].col;
}

/* bcc attaches a function named tracepoint__CATEGORY__EVENT to that tracepoint, and its
 * argument struct (struct tracepoint__CATEGORY__EVENT) is generated as for TRACEPOINT_PROBE. */
static void collect_named_tracepoint(struct rewriter *r, int i, struct rewrite_result *out)
{
	char name[256];
	tok_copy(r, i, name, sizeof(name));
	const char *category = name + strlen("tracepoint__");
	const char *split = strstr(category, "__");
	if (!split || split == category || !split[2] || (size_t)(split - category) >= 64 ||
	    strlen(split + 2) >= 128)
		return;
	struct rewrite_tracepoint *grown =
		realloc(out->tracepoints, sizeof(*grown) * (size_t)(out->ntracepoints + 1));
	if (!grown)
		return;
	out->tracepoints = grown;
	struct rewrite_tracepoint *tp = &out->tracepoints[out->ntracepoints++];
	snprintf(tp->category, sizeof(tp->category), "%.*s", (int)(split - category), category);
	snprintf(tp->event, sizeof(tp->event), "%s", split + 2);
	tp->line = r->tokens[i].line;
	tp->col = r->tokens[i].col;
}

/* Rewrites `table.method(` to `table$method(` and defines the macro that call expands. */
static void rewrite_call(struct rewriter *r, int i, const struct table *t, char *text,
			 FILE *prologue, char *defined, size_t defined_cap)
{
	char method_name[128];
	tok_copy(r, i + 2, method_name, sizeof(method_name));
	const struct method *m = t->kind->methods;
	while (m->name && strcmp(m->name, method_name) != 0)
		m++;
	if (!m->name) {
		char known[512] = "";
		for (const struct method *k = t->kind->methods; k->name; k++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
				 k == t->kind->methods ? "" : ", ", k->name);
		report(r, &r->tokens[i + 2], "%s '%s' has no method '%s' (it has %s)",
		       t->kind->label, t->name, method_name, known);
		return;
	}
	text[r->tokens[i + 1].start] = '$';
	/* One definition per table and method: remember which are written. */
	char key[300];
	snprintf(key, sizeof(key), "\n%s$%s\n", t->name, m->name);
	if (strstr(defined, key))
		return;
	if (strlen(defined) + strlen(key) < defined_cap)
		strcat(defined, key);
	fprintf(prologue, "#define %s$%s(...) %s(%s, ##__VA_ARGS__)\n", t->name, m->name,
		m->helper, t->name);
}

int rewrite_source(const char *source, size_t len, const char *source_name,
		   struct rewrite_result *out, char **error)
{
	memset(out, 0, sizeof(*out));
	*error = NULL;
	struct rewriter r = {.src = source, .len = len, .source_name = source_name};
	struct scanner s = {.src = source, .len = len, .line = 1};
	int cap = 0;
	for (;;) {
		struct token t = next_token(&s);
		if (t.type == TOK_END)
			break;
		if (r.ntokens == cap) {
			cap = cap ? cap * 2 : 1024;
			struct token *grown = realloc(r.tokens, sizeof(*grown) * (size_t)cap);
			if (!grown) {
				free(r.tokens);
				*error = strdup("out of memory");
				return -1;
			}
			r.tokens = grown;
		}
		r.tokens[r.ntokens++] = t;
	}

	size_t errors_len = 0, prologue_len = 0;
	r.errors = open_memstream(error, &errors_len);
	FILE *prologue = open_memstream(&out->prologue, &prologue_len);
	out->text = malloc(len + 1);
	size_t defined_cap = 16384;
	char *defined = calloc(1, defined_cap);
	if (!r.errors || !prologue || !out->text || !defined) {
		free(defined);
		free(r.tokens);
		if (r.errors)
			fclose(r.errors);
		if (prologue)
			fclose(prologue);
		free(*error);
		*error = strdup("out of memory");
		rewrite_result_free(out);
		return -1;
	}
	memcpy(out->text, source, len);
	out->text[len] = '\0';

	collect_tables(&r);
	unquote_inner_maps(&r, out->text);
	for (int i = 0; i < r.ntokens; i++) {
		if (tok_is(&r, i, "TRACEPOINT_PROBE") && tok_is(&r, i + 1, "(")) {
			collect_tracepoint(&r, i, out);
			continue;
		}
		if (r.tokens[i].type == TOK_IDENT && r.tokens[i].len > 12 &&
		    !strncmp(source + r.tokens[i].start, "tracepoint__", 12) &&
		    tok_is(&r, i + 1, "(") && !tok_is(&r, i - 1, "struct")) {
			collect_named_tracepoint(&r, i, out);
			continue;
		}
		if (r.tokens[i].type != TOK_IDENT || !tok_is(&r, i + 1, ".") ||
		    i + 3 >= r.ntokens || r.tokens[i + 2].type != TOK_IDENT ||
		    !tok_is(&r, i + 3, "(") || tok_is(&r, i - 1, ".") || tok_is(&r, i - 1, "->"))
			continue;
		const struct table *t = find_table(&r, i);
		if (t)
			rewrite_call(&r, i, t, out->text, prologue, defined, defined_cap);
	}
	free(defined);
	free(r.tables);
	free(r.tokens);
	fclose(prologue);
	fclose(r.errors);
	if (r.nerrors) {
		rewrite_result_free(out);
		return -1;
	}
	free(*error);
	*error = NULL;
	return 0;
}

void rewrite_result_free(struct rewrite_result *r)
{
	free(r->text);
	free(r->prologue);
	free(r->tracepoints);
	memset(r, 0, sizeof(*r));
}
