// Forgets what LLVM's BPF backend remembers of a compile's CO-RE accesses
// (runtime/core_globals.cpp).
#ifndef BPFLUA_CORE_GLOBALS_H
#define BPFLUA_CORE_GLOBALS_H

#include <dlfcn.h>

void bpflua_forget_core_globals();

#endif
