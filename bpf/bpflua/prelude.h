/* Everything a bpflua program sees before its first line, precompiled once per kernel into
 * the prelude PCH: the kernel's types (vmlinux.h, made from its BTF), libbpf's BPF headers,
 * the kernel's macros (kernel_macros.h) and bcc's vocabulary (bcc_compat.h, tables.h). */
#ifndef BPFLUA_PRELUDE_H
#define BPFLUA_PRELUDE_H

#include <vmlinux.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpflua/bcc_compat.h>
#include <bpflua/kernel_macros.h>
#include <bpflua/tables.h>

#endif
