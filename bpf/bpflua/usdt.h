/* bcc's USDT argument reads for programs that BPF{usdt_contexts = {...}} compiles (bpf.lua
 * adds `-include bpflua/usdt.h`):
 *
 *   bpf_usdt_readarg(n, ctx, &v)          argument n (from 1) of the probe that fired, into v
 *   bpf_usdt_readarg_p(n, ctx, buf, len)  argument n is a pointer: copy len bytes from it
 *
 * Each location of each enabled probe is a uprobe whose BPF cookie indexes
 * __bpflua_usdt_specs, where lua/bpflua/usdt.lua stores how that location passes its
 * arguments (decoded by runtime/usdt.c from the binary's .note.stapsdt: struct
 * bpflua_usdt_spec there, the same layout here). Reading is generic, so the program does not
 * depend on the traced binary and stays in the object cache. Both return 0, or a negative
 * errno when the probe has no such argument or the read faults. */
#ifndef BPFLUA_USDT_H
#define BPFLUA_USDT_H

#define BPFLUA_USDT_MAX_ARGS 12
#define BPFLUA_USDT_MAX_SPECS 4096

enum {
	BPFLUA_USDT_ARG_CONST = 0,
	BPFLUA_USDT_ARG_REG = 1,
	BPFLUA_USDT_ARG_MEM = 2,
};

struct bpflua_usdt_arg {
	__s64 offset;
	__s16 base_reg;
	__s16 index_reg;
	__u8 scale;
	__u8 kind;
	__u8 size;
	__u8 is_signed;
	__u8 reg_shift;
	__u8 pad[7];
};

struct bpflua_usdt_spec {
	struct bpflua_usdt_arg args[BPFLUA_USDT_MAX_ARGS];
	__s32 nargs;
	__s32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct bpflua_usdt_spec);
	__uint(max_entries, BPFLUA_USDT_MAX_SPECS);
} __bpflua_usdt_specs SEC(".maps");

static __always_inline __u64 bpflua_usdt_reg(void *ctx, __s16 offset)
{
	__u64 v = 0;
	bpf_probe_read_kernel(&v, sizeof(v), (char *)ctx + offset);
	return v;
}

/* Argument n (from 0) of the probe that fired, widened to 64 bits as its N@ prefix says. */
static __attribute__((__noinline__)) int bpflua_usdt_arg(void *ctx, __u64 n, __s64 *result)
{
	__u32 index = (__u32)bpf_get_attach_cookie(ctx);
	struct bpflua_usdt_spec *spec = bpf_map_lookup_elem(&__bpflua_usdt_specs, &index);
	if (!spec)
		return -2; /* -ENOENT */
	if (n >= BPFLUA_USDT_MAX_ARGS || n >= (__u64)spec->nargs)
		return -2;
	struct bpflua_usdt_arg *arg = &spec->args[n];
	__u64 v = 0;
	if (arg->kind == BPFLUA_USDT_ARG_CONST) {
		v = arg->offset;
	} else if (arg->kind == BPFLUA_USDT_ARG_REG) {
		if (arg->base_reg < 0 || arg->base_reg > 248)
			return -22; /* -EINVAL */
		v = bpflua_usdt_reg(ctx, arg->base_reg) >> (arg->reg_shift & 63);
	} else {
		__u64 addr = arg->offset;
		if (arg->base_reg >= 0 && arg->base_reg <= 248)
			addr += bpflua_usdt_reg(ctx, arg->base_reg);
		if (arg->index_reg >= 0 && arg->index_reg <= 248)
			addr += bpflua_usdt_reg(ctx, arg->index_reg) * arg->scale;
		__u32 size = arg->size;
		if (size > 8)
			return -22;
		int err = bpf_probe_read_user(&v, size, (void *)addr);
		if (err)
			return err;
	}
	/* Keep the low size bytes, sign- or zero-extended. */
	__u32 shift = (64 - (__u32)arg->size * 8) & 63;
	v <<= shift;
	*result = arg->is_signed ? (__s64)v >> shift : (__s64)(v >> shift);
	return 0;
}

#undef bpf_usdt_readarg /* tables.h's stand-ins, which say that usdt_contexts is missing */
#undef bpf_usdt_readarg_p
#define bpf_usdt_readarg(n, ctx, addr) ({ \
	__s64 _bpflua_value = 0; \
	int _bpflua_err = bpflua_usdt_arg((void *)(ctx), (n) - 1, &_bpflua_value); \
	*(addr) = (typeof(*(addr)))_bpflua_value; \
	_bpflua_err; })

#define bpf_usdt_readarg_p(n, ctx, buf, len) ({ \
	__s64 _bpflua_ptr = 0; \
	int _bpflua_err = bpflua_usdt_arg((void *)(ctx), (n) - 1, &_bpflua_ptr); \
	if (!_bpflua_err) \
		_bpflua_err = bpf_probe_read_user((buf), (len), (void *)_bpflua_ptr); \
	_bpflua_err; })

#endif
