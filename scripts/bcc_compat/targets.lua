-- The processes the runner starts for the tools that trace one (tools.lua's {pid:NAME} and
-- `targets`): a small long-running program per language runtime, the packages they come
-- from (install_targets.sh installs them) and the file whose USDT probes the tools attach.
--
-- Fields of a target:
--   package  the Debian package that has `program` (named in the reason when it is missing)
--   program  the executable that must be on PATH
--   command  the shell command that runs the target (exec'd; {dir} is the runner's
--            directory for targets, in its cache)
--   maps     an extended regular expression (grep -E) for the file in /proc/PID/maps with the
--            runtime's USDT probes: the target is ready once it is mapped, and counts only if
--            that file has stapsdt notes (readelf -n), as the tools need them
--   usdt     false: the target only needs to run (uprobes on libc), the notes are not checked
--   files    files the target needs in {dir}, written by the runner before it starts
--   prepare  a shell command run once in {dir} before the first start (javac)
--   probe_only  a server the runner does not start: only its executable's notes are checked,
--            so a build with probes is reported as such instead of being counted apart
--
-- ustat (javastat, pythonstat, ...) finds its processes by comm, "java", "python", "php",
-- "ruby", "node", "perl", "tclsh": the commands run under those names. Each ends by itself
-- after an hour, should the runner be killed before it stops them.
return {
  c = {
    package = "coreutils", program = "sleep", command = "exec sleep 3600",
    maps = "/libc[.]so", usdt = false,
  },
  python = {
    -- Debian's python3.11 has its 9 probes in the executable (Debian's, not another on
    -- PATH); run as "python" (the python-is-python3 name), which ustat looks for.
    package = "python3.11", program = "/usr/bin/python3.11",
    command = "ln -sf /usr/bin/python3.11 {dir}/python && " ..
      "exec {dir}/python -c 'import time; time.sleep(3600)'",
    maps = "/python3[.0-9]*$|/libpython3",
  },
  java = {
    -- HotSpot's probes are in libjvm.so; method probes fire only with ExtendedDTraceProbes.
    package = "openjdk-17-jdk-headless", program = "java",
    files = {["BccCompatTarget.java"] = [[
public class BccCompatTarget {
  public static void main(String[] args) throws InterruptedException {
    for (int i = 0; i < 36000; i++) {
      Thread.sleep(100);
    }
  }
}
]]},
    prepare = "[ BccCompatTarget.class -nt BccCompatTarget.java ] || javac BccCompatTarget.java",
    command = "exec java -XX:+ExtendedDTraceProbes -XX:+UseSerialGC -Xmx64m -Xss1m " ..
      "-cp {dir} BccCompatTarget",
    maps = "/libjvm[.]so$",
  },
  ruby = {
    package = "ruby", program = "ruby",
    command = "exec ruby -e '36000.times { sleep 0.1 }'",
    maps = "/libruby[-.0-9]*[.]so",
  },
  php = {
    -- PHP's probes fire only with USE_ZEND_DTRACE=1; attaching needs the notes alone.
    package = "php-cli", program = "php",
    command = "export USE_ZEND_DTRACE=1; " ..
      "exec php -r 'for ($i = 0; $i < 36000; $i++) usleep(100000);'",
    maps = "/php[.0-9]*$",
  },
  node = {
    package = "nodejs", program = "node",
    command = "exec node -e 'setTimeout(() => {}, 3600000)'",
    maps = "/node$|/libnode[.]so",
  },
  perl = {
    package = "perl", program = "perl",
    command = "exec perl -e 'sleep 3600'",
    maps = "/perl[.0-9]*$|/libperl[.]so",
  },
  tcl = {
    package = "tcl", program = "tclsh",
    command = "echo 'after 3600000' > {dir}/wait.tcl && exec tclsh {dir}/wait.tcl",
    maps = "/libtcl[.0-9]*[.]so",
  },
  mysql = {
    -- A MySQL/MariaDB server needs a data directory and minutes to set up; with probes in
    -- its executable it would be worth it, and the runner says so.
    package = "mariadb-server-core", program = "mariadbd", probe_only = true,
  },
}
