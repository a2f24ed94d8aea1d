/* spec/symbols_spec.lua: caller LIBRARY WHO loads LIBRARY and calls its hidden_entry(WHO)
 * every 2 ms for at most 20 s (the spec kills it sooner). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	void *library = dlopen(argv[1], RTLD_NOW);
	long (*entry)(long) = library ? (long (*)(long))dlsym(library, "hidden_entry") : NULL;
	if (!entry) {
		fprintf(stderr, "caller: %s\n", dlerror());
		return 1;
	}
	long who = atol(argv[2]);
	struct timespec pause = {0, 2000000};
	for (int i = 0; i < 10000; i++) {
		entry(who);
		nanosleep(&pause, NULL);
	}
	return 0;
}
