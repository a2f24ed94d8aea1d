/* The REPL's line editor: libedit (BSD licensed, as the project is MIT) offered to Lua as the
 * module bpflua.lineedit. Only the bpflua host has it; the REPL itself is bpflua/repl.lua. */
#ifndef BPFLUA_LINEEDIT_H
#define BPFLUA_LINEEDIT_H

#include <lua.h>

/* Opens the module: readline(prompt), add_history(line), read_history(path),
 * write_history(path), set_completer(fn). */
int luaopen_bpflua_lineedit(lua_State *L);

/* 1 while readline waits for the user: a Ctrl-C then only clears the line, and the SIGINT
 * handler must not arm the hook that interrupts running Lua code. Safe in a signal handler. */
int lineedit_at_prompt(void);

#endif
