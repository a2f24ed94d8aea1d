/* The shared library of spec/usdt/probes.c: a probe in a .so (its uprobe goes on the
 * library's file, at the library's offset). */
#include <sys/sdt.h>

void lib_fire(int i)
{
	STAP_PROBE2(bpflua_lib, lib_probe, i, i * 3);
}
