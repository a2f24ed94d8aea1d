// spec/symbols_spec.lua: a process whose user stack, taken at its getpriority(0, WHO) syscall,
// runs through a C++ method, a C++ template and functions with Rust's mangled names:
//   ns::Klass::method(int) <- ns::Holder<long>::call(long) <- mycrate::module::work (Rust v0)
//   <- mycrate::module::legacy (Rust legacy, with its hash) <- main
// Frame pointers and no inlining, so that the kernel's stack walk sees every frame. It makes
// the syscall itself, so that the innermost frame is the method (a libc wrapper has no frame).
#include <cstdlib>
#include <ctime>

namespace ns {
struct Klass {
	__attribute__((noinline)) long method(int who);
};

long Klass::method(int who)
{
	long ret;
	asm volatile("syscall" : "=a"(ret) : "a"(140L), "D"(0L), "S"((long)who) : "rcx", "r11", "memory");
	return ret;
}

template <typename T> struct Holder {
	__attribute__((noinline)) static long call(T who)
	{
		Klass k;
		return k.method((int)who) + 1;
	}
};
} // namespace ns

// Rust's names, given to C++ functions: what matters is the ELF symbol a Rust binary would have.
extern "C" long rust_v0(long who) asm("_RNvNtCs1234_7mycrate6module4work");
extern "C" long rust_legacy(long who) asm("_ZN7mycrate6module6legacy17h0123456789abcdefE");

extern "C" __attribute__((noinline)) long rust_v0(long who)
{
	return ns::Holder<long>::call(who) + 1;
}

extern "C" __attribute__((noinline)) long rust_legacy(long who)
{
	return rust_v0(who) + 1;
}

// names WHO: makes the syscall every 2 ms for at most 20 s (the spec kills it sooner).
int main(int argc, char **argv)
{
	long who = argc > 1 ? atol(argv[1]) : 0;
	struct timespec pause = {0, 2000000};
	for (int i = 0; i < 10000; i++) {
		rust_legacy(who);
		nanosleep(&pause, nullptr);
	}
	return 0;
}
