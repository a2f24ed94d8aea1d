/* spec/symbols_spec.lua: a shared library whose exported hidden_entry() calls a static
 * function, hidden_work(), that makes the getpriority(0, who) syscall itself. Stripped, the
 * library keeps hidden_entry in .dynsym; hidden_work's name is only in its debug file. */
static __attribute__((noinline)) long hidden_work(long who)
{
	long ret;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(140L), "D"(0L), "S"(who) : "rcx", "r11", "memory");
	return ret;
}

long hidden_entry(long who)
{
	return hidden_work(who) + 1;
}
