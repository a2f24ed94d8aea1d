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

/* The registers of the probe's context. The verifier allows context loads only at constant
 * offsets, so the registers are copied to the stack one constant load each (volatile: Clang
 * would otherwise fold copy and index back into one load at ctx + offset) and indexed there;
 * the copy is a power of two long, so that a mask keeps any index inside (and no helper call
 * reads a register). scripts/bench/usdt_readarg.lua measures the cost against loads
 * generated for the location. */
#define BPFLUA_USDT_NREGS (sizeof(struct pt_regs) / 8)
#define BPFLUA_USDT_REGS_LEN (BPFLUA_USDT_NREGS <= 32 ? 32 : 64)

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
	__u64 regs[BPFLUA_USDT_REGS_LEN] = {};
#pragma unroll
	for (unsigned int i = 0; i < BPFLUA_USDT_NREGS && i < BPFLUA_USDT_REGS_LEN; i++)
		regs[i] = *(volatile __u64 *)((char *)ctx + i * 8);
	__u64 v = 0;
	if (arg->kind == BPFLUA_USDT_ARG_CONST) {
		v = arg->offset;
	} else if (arg->kind == BPFLUA_USDT_ARG_REG) {
		if (arg->base_reg < 0)
			return -22; /* -EINVAL */
		v = regs[((__u32)arg->base_reg / 8) & (BPFLUA_USDT_REGS_LEN - 1)] >> (arg->reg_shift & 63);
	} else {
		__u64 addr = arg->offset;
		if (arg->base_reg >= 0)
			addr += regs[((__u32)arg->base_reg / 8) & (BPFLUA_USDT_REGS_LEN - 1)];
		if (arg->index_reg >= 0)
			addr += regs[((__u32)arg->index_reg / 8) & (BPFLUA_USDT_REGS_LEN - 1)] * arg->scale;
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
