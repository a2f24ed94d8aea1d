-- luacheck (Debian's lua-check): `luacheck .` from the top, or scripts/lint.sh luacheck;
-- scripts/test.sh counts it as a check.
std = "luajit"
exclude_files = {"build/", "build.*/", "build-*/"}
-- Line length is left to .editorconfig (100): BPF C inside the specs' strings runs longer.
max_line_length = false
-- Methods keep self, and callbacks the parameters of their signature, used or not.
unused_args = false
files["spec/"] = {std = "+busted"}
