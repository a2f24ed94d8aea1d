/* The running kernel's configuration as the CONFIG_ macros a program tests.
 *
 * bcc compiles against the kernel's headers, whose autoconf.h defines CONFIG_X for every
 * option built in (and CONFIG_X_MODULE for modules), so a tool's `#ifdef CONFIG_NET_NS`
 * takes the branch that fits the kernel. bpflua has no kernel headers; without these a
 * program would silently take every #else. The options come from the kernel's own
 * configuration (/proc/config.gz, else /boot/config-RELEASE); a kernel that publishes
 * neither still gets the few options bcc tools test that its BTF gives away (a member that
 * only exists with the option) and its architecture's.
 *
 * Only the options a program's text names are written, into the compiled unit ahead of the
 * text, so they are part of the object cache's key and cost nothing to programs that name
 * none. */
#ifndef BPFLUA_KERNEL_CONFIG_H
#define BPFLUA_KERNEL_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* Writes `#define CONFIG_X value` for each CONFIG_ identifier in text that the running
 * kernel sets (each guarded by #ifndef, so that -DCONFIG_X=... still wins). Returns how many
 * it wrote. */
int kernel_config_write(FILE *out, const char *text, size_t len);

#endif
