/* A vmlinux.h trimmed to the kernel types one program names, for a first compile on a kernel
 * whose prelude PCH is not built yet.
 *
 * The full vmlinux.h (2.8 MB) takes Clang 0.7-1 s to parse and the PCH made from it ~0.5 s
 * more; the types a program names, with what btf_dump writes for them (the types they hold
 * by value, forward declarations of those they point to), are tens of kilobytes. The names
 * come from the unit after preprocessing (the identifiers the parser sees: the user's, the
 * prelude's and those that macros make), so every kernel type, typedef or enumerator the
 * program can name is declared as in the full header. A type it never names is at most
 * declared without its members; where the program needs one complete (a member access
 * through a pointer to it), Clang says so, and the caller retries with the names its errors
 * quote or compiles against the full header.
 *
 * btf_dump tells apart types that share a name (the kernel has a few: two typedefs u8, two
 * struct console) by suffixes (u8___2) given in the order it writes them, which differs in a
 * trimmed header. So the trimmed header is renamed to match the full one: a second dumper
 * writes types in the full header's order, up to the last of those that matter, and says
 * what it calls each. Enumerators are numbered the same way, when their enum is written; a
 * header that holds an enumerator whose name the kernel uses twice is not used at all. */
#define _GNU_SOURCE
#include "kernel_types.h"
#include "libbpf_log.h"
#include "util.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- A counted set of names (pointers into text that outlives it) ------------------------ */

struct name_set {
	struct name_slot {
		const char *name;
		uint32_t len;
		int count;
	} *slots;
	size_t mask, used;
};

static uint64_t name_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static struct name_slot *name_set_slot(const struct name_set *set, const char *s, size_t len)
{
	size_t i = (size_t)name_hash(s, len) & set->mask;
	while (set->slots[i].name &&
	       ((size_t)set->slots[i].len != len || memcmp(set->slots[i].name, s, len) != 0))
		i = (i + 1) & set->mask;
	return &set->slots[i];
}

/* Keeps the table at most half full. */
static int name_set_grow(struct name_set *set)
{
	if (set->slots && (set->used + 1) * 2 <= set->mask + 1)
		return 0;
	struct name_set bigger = {calloc(set->slots ? (set->mask + 1) * 2 : 256, sizeof(struct name_slot)),
				  set->slots ? set->mask * 2 + 1 : 255, set->used};
	if (!bigger.slots)
		return -1;
	for (size_t i = 0; set->slots && i <= set->mask; i++)
		if (set->slots[i].name)
			*name_set_slot(&bigger, set->slots[i].name, set->slots[i].len) = set->slots[i];
	free(set->slots);
	*set = bigger;
	return 0;
}

static int name_set_add(struct name_set *set, const char *s, size_t len)
{
	if (name_set_grow(set) < 0)
		return -1;
	struct name_slot *slot = name_set_slot(set, s, len);
	if (!slot->name) {
		slot->name = s;
		slot->len = (uint32_t)len;
		set->used++;
	}
	slot->count++;
	return 0;
}

static int name_set_count(const struct name_set *set, const char *s, size_t len)
{
	return set->slots ? name_set_slot(set, s, len)->count : 0;
}

static int name_set_has(const struct name_set *set, const char *s)
{
	return *s && name_set_count(set, s, strlen(s)) > 0;
}

/* ---- Kernel types ------------------------------------------------------------------------- */

static int enumerator_count(const struct btf_type *t)
{
	return btf_is_any_enum(t) ? btf_vlen(t) : 0;
}

static const char *enumerator_name(const struct btf *btf, const struct btf_type *t, int i)
{
	return btf__name_by_offset(btf, btf_is_enum(t) ? btf_enum(t)[i].name_off
						       : btf_enum64(t)[i].name_off);
}

/* btf_dump numbers these by name (forward declarations and empty enums keep their name). */
static int is_numbered_tag(const struct btf_type *t)
{
	return btf_is_composite(t) || (btf_is_any_enum(t) && btf_vlen(t));
}

static int is_numbered_type(const struct btf_type *t)
{
	return is_numbered_tag(t) || btf_is_typedef(t);
}

/* Marks the kernel types that the identifiers name: tags, typedefs, and enums by their
 * enumerators. */
static void mark_named_types(const struct btf *btf, const struct name_set *wanted, char *dump)
{
	int n = (int)btf__type_cnt(btf);
	for (int id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		if (btf_is_composite(t) || btf_is_fwd(t) || btf_is_any_enum(t) || btf_is_typedef(t))
			dump[id] = name_set_has(wanted, btf__name_by_offset(btf, t->name_off));
		for (int i = 0; i < enumerator_count(t) && !dump[id]; i++)
			dump[id] = name_set_has(wanted, enumerator_name(btf, t, i));
	}
}

/* ---- The identifiers of C text ------------------------------------------------------------ */

/* Calls fn for each identifier of text, saying whether struct, union or enum comes before it;
 * stops at fn's first nonzero return and returns it. */
static int each_identifier(const char *text, size_t len,
			   int (*fn)(void *arg, const char *word, size_t n, int tag), void *arg)
{
	const char *end = text + len, *prev = NULL;
	size_t prev_len = 0;
	for (const char *p = text; p < end;) {
		if (!(isalpha((unsigned char)*p) || *p == '_')) {
			p += isdigit((unsigned char)*p) ? strspn(p, "0123456789abcdefABCDEFxXuUlL") : 1;
			continue;
		}
		const char *word = p;
		while (p < end && (isalnum((unsigned char)*p) || *p == '_'))
			p++;
		size_t n = (size_t)(p - word);
		int tag = prev && ((prev_len == 6 && !memcmp(prev, "struct", 6)) ||
				   (prev_len == 5 && !memcmp(prev, "union", 5)) ||
				   (prev_len == 4 && !memcmp(prev, "enum", 4)));
		int rc = fn(arg, word, n, tag);
		if (rc)
			return rc;
		prev = word;
		prev_len = n;
	}
	return 0;
}

/* The length of a name without btf_dump's ___N suffix. */
static size_t base_name_len(const char *word, size_t n)
{
	const char *digits = word + n;
	while (digits > word && isdigit((unsigned char)digits[-1]))
		digits--;
	if (digits < word + n && digits - word > 3 && !memcmp(digits - 3, "___", 3))
		return (size_t)(digits - 3 - word);
	return n;
}

/* The names in a trimmed header, and how often the kernel uses each: as a tag (after struct,
 * union or enum), as a typedef or enumerator (btf_dump's other namespace), as an
 * enumerator. */
struct header_names {
	struct name_set tags, idents;            /* the header's, suffixes taken off */
	struct name_set kernel_tags, kernel_idents, kernel_enumerators;
};

static int collect_name(void *arg, const char *word, size_t n, int tag)
{
	struct header_names *h = arg;
	return name_set_add(tag ? &h->tags : &h->idents, word, base_name_len(word, n));
}

static int count_in_kernel(const struct btf *btf, struct header_names *h)
{
	int n = (int)btf__type_cnt(btf);
	for (int id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		const char *name = btf__name_by_offset(btf, t->name_off);
		int rc = 0;
		if (is_numbered_tag(t) && name_set_has(&h->tags, name))
			rc = name_set_add(&h->kernel_tags, name, strlen(name));
		else if (btf_is_typedef(t) && name_set_has(&h->idents, name))
			rc = name_set_add(&h->kernel_idents, name, strlen(name));
		for (int i = 0; i < enumerator_count(t) && rc == 0; i++) {
			const char *e = enumerator_name(btf, t, i);
			if (name_set_has(&h->idents, e))
				rc = name_set_add(&h->kernel_idents, e, strlen(e)) |
				     name_set_add(&h->kernel_enumerators, e, strlen(e));
		}
		if (rc)
			return -1;
	}
	return 0;
}

/* 1 when btf_dump gives the type a name that it may number differently in another header. */
static int is_shared(const struct btf *btf, const struct btf_type *t, const struct header_names *h)
{
	const char *name = btf__name_by_offset(btf, t->name_off);
	size_t len = strlen(name);
	if (is_numbered_tag(t))
		return name_set_count(&h->kernel_tags, name, len) > 1;
	return btf_is_typedef(t) && name_set_count(&h->kernel_idents, name, len) > 1;
}

/* 1 when the header holds an enumerator whose name the kernel uses twice. */
static int has_shared_enumerator(const struct header_names *h)
{
	for (size_t i = 0; i <= h->kernel_enumerators.mask && h->kernel_enumerators.slots; i++) {
		const struct name_slot *e = &h->kernel_enumerators.slots[i];
		if (e->name && name_set_count(&h->kernel_idents, e->name, e->len) > 1)
			return 1;
	}
	return 0;
}

/* ---- Dumpers and the names they give ------------------------------------------------------ */

/* Where a dumper's text goes: into out, or, while a type's name is asked, into name. */
struct dump_sink {
	FILE *out;
	int asking;
	char name[256];
	size_t name_len;
};

static void sink_print(void *ctx, const char *fmt, va_list args)
{
	struct dump_sink *sink = ctx;
	if (!sink->asking) {
		if (sink->out)
			vfprintf(sink->out, fmt, args);
		return;
	}
	size_t room = sizeof(sink->name) - sink->name_len;
	int n = vsnprintf(sink->name + sink->name_len, room, fmt, args);
	if (n > 0)
		sink->name_len += (size_t)n < room ? (size_t)n : room - 1;
}

/* The name a dumper gives type id ("u8___2", "console___2"), into name: the last identifier
 * of its declaration. A type the dumper has not written yet is named now, after all those it
 * has. */
static void dumped_name(struct btf_dump *dumper, struct dump_sink *sink, int id, char *name,
			size_t size)
{
	LIBBPF_OPTS(btf_dump_emit_type_decl_opts, opts, .field_name = "");
	sink->asking = 1;
	sink->name_len = 0;
	sink->name[0] = '\0';
	btf_dump__emit_type_decl(dumper, (__u32)id, &opts);
	sink->asking = 0;
	size_t end = sink->name_len;
	while (end && !(isalnum((unsigned char)sink->name[end - 1]) || sink->name[end - 1] == '_'))
		end--;
	size_t start = end;
	while (start && (isalnum((unsigned char)sink->name[start - 1]) || sink->name[start - 1] == '_'))
		start--;
	snprintf(name, size, "%.*s", (int)(end - start), sink->name + start);
}

/* ---- Renaming to the full header's names -------------------------------------------------- */

struct rename {
	char from[256], to[256];
	int tag;
};

struct renaming {
	const struct rename *renames;
	int count;
	FILE *out;
	const char *done; /* the text is copied to out up to here */
};

static int apply_rename(void *arg, const char *word, size_t n, int tag)
{
	struct renaming *r = arg;
	for (int i = 0; i < r->count; i++) {
		const struct rename *rn = &r->renames[i];
		if (rn->tag == tag && strlen(rn->from) == n && !memcmp(rn->from, word, n)) {
			fwrite(r->done, 1, (size_t)(word - r->done), r->out);
			fputs(rn->to, r->out);
			r->done = word + n;
			break;
		}
	}
	return 0;
}

struct present {
	const char *name;
	int found;
};

static int find_word(void *arg, const char *word, size_t n, int tag)
{
	struct present *p = arg;
	(void)tag;
	p->found = strlen(p->name) == n && !memcmp(p->name, word, n);
	return p->found;
}

/* The kernel's types of one shared name (tags and typedefs apart), as met in id order. */
struct share_group {
	const char *name;
	int tag;
	int largest, second; /* the highest ids of the group so far */
	int last_present;    /* the highest id the trimmed header holds, 0: none */
};

struct share_groups {
	struct share_group *groups;
	int count, cap;
};

static struct share_group *share_group_of(struct share_groups *all, const struct btf *btf,
					  const struct btf_type *t)
{
	const char *name = btf__name_by_offset(btf, t->name_off);
	int tag = !btf_is_typedef(t);
	for (int i = 0; i < all->count; i++)
		if (all->groups[i].tag == tag && !strcmp(all->groups[i].name, name))
			return &all->groups[i];
	if (all->count == all->cap) {
		int cap = all->cap * 2 + 8;
		struct share_group *more = realloc(all->groups, sizeof(*more) * (size_t)cap);
		if (!more)
			return NULL;
		all->groups = more;
		all->cap = cap;
	}
	struct share_group *g = &all->groups[all->count++];
	*g = (struct share_group){.name = name, .tag = tag};
	return g;
}

/* The trimmed header's text with its shared names as the full header has them (malloc'd), or
 * NULL: out of memory, or (*unusable) a header that must not be used. A type of the trimmed
 * header is named as in the full one once a dumper writing types in the full header's order
 * (by id) has written it, which it does by its own id's turn at the latest. */
static char *name_as_full_header(const struct btf *btf, struct btf_dump *trimmed,
				 struct dump_sink *trimmed_sink, const char *text, size_t len,
				 int *unusable)
{
	struct header_names h = {0};
	struct btf_dump *full = NULL;
	struct dump_sink full_sink = {0};
	struct rename *renames = NULL;
	struct share_groups groups = {0};
	int *ids = NULL, nids = 0, nrenames = 0;
	char *renamed = NULL;
	size_t renamed_len = 0;
	*unusable = 0;
	if (each_identifier(text, len, collect_name, &h) || count_in_kernel(btf, &h) < 0)
		goto out;
	if (has_shared_enumerator(&h)) {
		*unusable = 1;
		goto out;
	}
	/* The shared types this header holds: those whose name (from the trimmed dumper)
	 * occurs in it. Asking names a type the trimmed dumper never wrote after all that it
	 * wrote, so such a name is not in the text. */
	int n = (int)btf__type_cnt(btf), cap = 0;
	for (int id = 1; id < n; id++) {
		const struct btf_type *t = btf__type_by_id(btf, id);
		if (!is_numbered_type(t) || !is_shared(btf, t, &h))
			continue;
		struct share_group *g = share_group_of(&groups, btf, t);
		if (!g)
			goto out;
		g->second = g->largest;
		g->largest = id;
		if (nids == cap) {
			cap = cap * 2 + 8;
			int *more_ids = realloc(ids, sizeof(*ids) * (size_t)cap);
			ids = more_ids ? more_ids : ids;
			struct rename *more = realloc(renames, sizeof(*renames) * (size_t)cap);
			renames = more ? more : renames;
			if (!more_ids || !more)
				goto out;
		}
		struct rename *rn = &renames[nids];
		dumped_name(trimmed, trimmed_sink, id, rn->from, sizeof(rn->from));
		struct present p = {rn->from, 0};
		each_identifier(text, len, find_word, &p);
		if (!p.found)
			continue;
		rn->tag = !btf_is_typedef(t);
		ids[nids++] = id;
		g->last_present = id;
	}
	/* How far the full header's order must be followed: to each held type's own turn; or,
	 * for a name no enumerator shares, to the turn of the group's second-to-last type,
	 * after which the last is the only one left unnamed, and asking names it as the full
	 * header will (NAME___count). */
	int last = 0;
	for (int i = 0; i < groups.count; i++) {
		const struct share_group *g = &groups.groups[i];
		int upto = g->last_present;
		if ((g->tag || !name_set_has(&h.kernel_enumerators, g->name)) && g->second < upto)
			upto = g->second;
		if (upto > last)
			last = upto;
	}
	if (nids) {
		full = btf_dump__new(btf, sink_print, &full_sink, NULL);
		if (!full)
			goto out;
		for (int id = 1; id <= last; id++)
			if (btf_dump__dump_type(full, (__u32)id) < 0)
				goto out;
	}
	for (int i = 0; i < nids; i++) {
		dumped_name(full, &full_sink, ids[i], renames[i].to, sizeof(renames[i].to));
		if (strcmp(renames[i].from, renames[i].to) != 0)
			renames[nrenames++] = renames[i];
	}
	FILE *out = open_memstream(&renamed, &renamed_len);
	if (!out)
		goto out;
	struct renaming r = {renames, nrenames, out, text};
	each_identifier(text, len, apply_rename, &r);
	fwrite(r.done, 1, (size_t)(text + len - r.done), out);
	if (fclose(out) != 0) {
		free(renamed);
		renamed = NULL;
	}
out:
	btf_dump__free(full);
	free(groups.groups);
	free(renames);
	free(ids);
	free(h.tags.slots);
	free(h.idents.slots);
	free(h.kernel_tags.slots);
	free(h.kernel_idents.slots);
	free(h.kernel_enumerators.slots);
	return renamed;
}

/* ---- The header --------------------------------------------------------------------------- */

int kernel_types_write_trimmed(const char *path, const char *identifiers, size_t *types,
			       char **error)
{
	struct libbpf_log log;
	libbpf_log_begin(&log);
	struct btf *btf = btf__load_vmlinux_btf();
	int err = errno;
	libbpf_log_end(&log);
	if (!btf) {
		*error = str_printf("cannot read the kernel's types from /sys/kernel/btf/vmlinux: %s "
				    "(bpflua needs a kernel built with CONFIG_DEBUG_INFO_BTF)",
				    strerror(err));
		return -1;
	}
	*error = NULL;
	int ret = -1, unusable = 0;
	struct name_set wanted = {0};
	int count = (int)btf__type_cnt(btf);
	char *dump = calloc((size_t)count, 1);
	char *text = NULL, *dumped = NULL, *named = NULL;
	size_t text_len = 0;
	struct dump_sink sink = {.out = open_memstream(&text, &text_len)};
	struct btf_dump *dumper = sink.out ? btf_dump__new(btf, sink_print, &sink, NULL) : NULL;
	if (!dump || !dumper)
		goto out;
	for (const char *p = identifiers, *nl; *p; p = *nl ? nl + 1 : nl) {
		nl = strchrnul(p, '\n');
		if (nl > p && name_set_add(&wanted, p, (size_t)(nl - p)) < 0)
			goto out;
	}
	mark_named_types(btf, &wanted, dump);
	/* As kernel_types_write_vmlinux_h writes the full header, by id. */
	fprintf(sink.out, "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"
			  "#pragma clang attribute push (__attribute__((preserve_access_index)), "
			  "apply_to = record)\n");
	*types = 0;
	for (int id = 1; id < count; id++) {
		if (!dump[id])
			continue;
		(*types)++;
		int e = btf_dump__dump_type(dumper, (__u32)id);
		if (e) {
			*error = str_printf("cannot write kernel type %d to %s: %s", id, path,
					    strerror(-e));
			goto out;
		}
	}
	fprintf(sink.out, "#pragma clang attribute pop\n#endif\n");
	if (fflush(sink.out) != 0 || !(dumped = strndup(text, text_len)))
		goto out;
	named = name_as_full_header(btf, dumper, &sink, dumped, text_len, &unusable);
	if (!named) {
		ret = unusable ? 0 : -1;
		goto out;
	}
	err = file_write_atomic(path, named, strlen(named));
	if (err) {
		*error = str_printf("cannot write %s: %s", path, strerror(-err));
		goto out;
	}
	ret = 1;
out:
	if (ret < 0 && !*error)
		*error = str_printf("cannot write %s: out of memory", path);
	btf_dump__free(dumper);
	if (sink.out)
		fclose(sink.out);
	free(text);
	free(dumped);
	free(named);
	free(dump);
	free(wanted.slots);
	btf__free(btf);
	return ret;
}
