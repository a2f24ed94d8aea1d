/* A program with a USDT probe for each argument form the compiler emits, for spec/usdt_spec.lua.
 * Each probe's operands are forced with asm constraints (sys/sdt.h takes
 * STAP_SDT_ARG_CONSTRAINT when the probe expands): "n" constants, "r" registers, "m" memory.
 * It prints "ready PID SEMAPHORE_ADDRESS", then for each line "go N" on stdin fires every
 * probe N times (iteration i passes values made from i) and prints "done". */
#define _SDT_HAS_SEMAPHORES 1
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <unistd.h>

/* Semaphores (every probe here has one, as with _SDT_HAS_SEMAPHORES they must), kept in
 * .probes: the kernel counts one up while a uprobe with its ref_ctr_offset is attached; the
 * program tests it before preparing the probe's arguments. */
#define SEMAPHORE(name) \
	unsigned short bpflua_test_##name##_semaphore __attribute__((section(".probes"))) = 0
SEMAPHORE(constants);
SEMAPHORE(registers);
SEMAPHORE(memory);
SEMAPHORE(guarded);
long guarded_runs; /* how often the guarded probe's arguments were prepared */

void lib_fire(int i); /* libprobes.so */

volatile int64_t global_value;            /* "8@global_value(%rip)" */
volatile int64_t table[8];                /* "8@(%rax,%rdx,8)" */

__attribute__((noinline)) static void fire(int i)
{
	/* Constants. */
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT n
	STAP_PROBE3(bpflua_test, constants, 5, -7, 0x1234567890LL);

	/* Registers of each size, signed and unsigned. */
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT r
	int8_t s8 = (int8_t)(-i - 1);
	uint16_t u16 = (uint16_t)(60000 + i);
	int32_t s32 = -100000 - i;
	uint64_t u64 = 0x100000000ULL + (uint64_t)i;
	STAP_PROBE4(bpflua_test, registers, s8, u16, s32, u64);

	/* Memory: a local on the stack, a global (rip-relative), an array element
	 * (base + index * scale). */
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT m
	volatile int32_t local = -42 - i;
	global_value = 1000 + i;
	int index = i & 7;
	table[index] = 7000 + i;
	STAP_PROBE3(bpflua_test, memory, local, global_value, table[index]);

	/* Guarded by a semaphore: the arguments are prepared only while someone listens. */
#undef STAP_SDT_ARG_CONSTRAINT
#define STAP_SDT_ARG_CONSTRAINT nor
	if (bpflua_test_guarded_semaphore) {
		guarded_runs++;
		STAP_PROBE1(bpflua_test, guarded, i);
	}

	lib_fire(i);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d %p\n", getpid(), (void *)&bpflua_test_guarded_semaphore);
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		int n;
		if (sscanf(line, "go %d", &n) == 1) {
			for (int i = 0; i < n; i++)
				fire(i);
			printf("done %ld\n", guarded_runs);
		}
	}
	return 0;
}
