/* bpflua.lineedit: libedit's readline interface for the REPL (bpflua/repl.lua). This file
 * connects libedit to Lua and nothing more: what to complete, what a line means and where
 * history lives are decided in Lua.
 *
 *   lineedit.readline(prompt)   the line; nil at end of input (Ctrl-D); false when Ctrl-C
 *                               cleared the line
 *   lineedit.add_history(line), lineedit.read_history(path), lineedit.write_history(path)
 *   lineedit.set_completer(fn)  fn(text_before_cursor, word_start) returns a list of words
 *                               that may replace the text from word_start (0-based) on */
#include "lineedit.h"
#include "bpflua.h"

#include <editline/readline.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_LINES 1000

/* Completion is a callback from inside readline; it reaches Lua through the state that
 * called readline. */
static lua_State *reading_L;
static int completer_ref = LUA_NOREF;
static volatile sig_atomic_t at_prompt;

int lineedit_at_prompt(void)
{
	return at_prompt;
}

/* The matches as libedit wants them: [0] is what replaces the word (the candidates' common
 * prefix), then the candidates, then NULL. */
static char **matches_from_list(lua_State *L, int list)
{
	size_t n = lua_objlen(L, list);
	if (n == 0)
		return NULL;
	char **matches = calloc(n + 2, sizeof(*matches));
	if (!matches)
		return NULL;
	size_t common = 0;
	for (size_t i = 1; i <= n; i++) {
		lua_rawgeti(L, list, (int)i);
		const char *word = lua_tostring(L, -1);
		matches[i] = strdup(word ? word : "");
		lua_pop(L, 1);
		if (!matches[i])
			goto fail;
		if (i == 1) {
			common = strlen(matches[1]);
		} else {
			size_t k = 0;
			while (k < common && matches[i][k] == matches[1][k])
				k++;
			common = k;
		}
	}
	matches[0] = strndup(matches[1], common);
	if (!matches[0])
		goto fail;
	if (n == 1) {
		/* A single candidate replaces the word alone; libedit lists nothing. */
		free(matches[1]);
		matches[1] = NULL;
	}
	return matches;
fail:
	for (size_t i = 0; i <= n; i++)
		free(matches[i]);
	free(matches);
	return NULL;
}

static char **complete(const char *text, int start, int end)
{
	(void)text;
	rl_attempted_completion_over = 1; /* never fall back to file names */
	lua_State *L = reading_L;
	if (!L || completer_ref == LUA_NOREF)
		return NULL;
	int top = lua_gettop(L);
	lua_rawgeti(L, LUA_REGISTRYINDEX, completer_ref);
	lua_pushlstring(L, rl_line_buffer, (size_t)end);
	lua_pushinteger(L, start);
	char **matches = NULL;
	/* A failing completer completes nothing; the line being edited matters more. */
	if (lua_pcall(L, 2, 1, 0) == 0 && lua_istable(L, -1))
		matches = matches_from_list(L, lua_gettop(L));
	lua_settop(L, top);
	return matches;
}

static void initialize(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	rl_readline_name = "bpflua";
	rl_attempted_completion_function = complete;
	/* Words end at Lua's operators and brackets: `b["ev`, `b:att` and `string.fo` complete
	 * "ev", "att" and "fo" in the context the REPL reads from the text before them. */
	rl_basic_word_break_characters = " \t\n\"'`@$><=;|&{}()[],.:+-*/%^~#";
	rl_completer_word_break_characters = (char *)rl_basic_word_break_characters;
	rl_completion_append_character = '\0';
	using_history();
	stifle_history(HISTORY_LINES);
}

static int l_readline(lua_State *L)
{
	const char *prompt = luaL_checkstring(L, 1);
	initialize();
	/* A Ctrl-C that came while the last input ran has been reported by now. */
	lua_sethook(L, NULL, 0, 0);
	bpflua_set_interrupted(0);
	reading_L = L;
	at_prompt = 1;
	char *line = readline(prompt);
	at_prompt = 0;
	reading_L = NULL;
	if (bpflua_interrupted()) {
		/* libedit returns from a Ctrl-C with what was typed; the line is dropped. */
		bpflua_set_interrupted(0);
		free(line);
		lua_pushboolean(L, 0);
		return 1;
	}
	if (!line) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushstring(L, line);
	free(line);
	return 1;
}

static int l_add_history(lua_State *L)
{
	initialize();
	add_history(luaL_checkstring(L, 1));
	return 0;
}

/* read_history and write_history return an errno value: true, or nil and the reason. */
static int history_result(lua_State *L, int err, const char *what, const char *path)
{
	if (err == 0) {
		lua_pushboolean(L, 1);
		return 1;
	}
	lua_pushnil(L);
	lua_pushfstring(L, "cannot %s the history file %s: %s", what, path, strerror(err));
	return 2;
}

static int l_read_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	initialize();
	return history_result(L, read_history(path), "read", path);
}

static int l_write_history(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	initialize();
	return history_result(L, write_history(path), "write", path);
}

static int l_set_completer(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TFUNCTION);
	luaL_unref(L, LUA_REGISTRYINDEX, completer_ref);
	lua_pushvalue(L, 1);
	completer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

int luaopen_bpflua_lineedit(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{"readline", l_readline},
		{"add_history", l_add_history},
		{"read_history", l_read_history},
		{"write_history", l_write_history},
		{"set_completer", l_set_completer},
		{NULL, NULL},
	};
	lua_newtable(L);
	luaL_register(L, NULL, functions);
	return 1;
}
