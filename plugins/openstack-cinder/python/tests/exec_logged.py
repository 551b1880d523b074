"""A command prefix for the driver that logs each start, then becomes the real command.

argv: <log file> <program> <args...>. Appends {"pid", "argv"} (the arguments after the real
command's own two, i.e. what the driver added) as one JSON line, then execs the program in this
same process, so the pid logged is the pid the driver's child has.
"""
import json
import os
import sys

log, program, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
with open(log, 'a') as f:
    f.write(json.dumps({'pid': os.getpid(), 'argv': rest[1:]}) + '\n')
os.execv(program, [program] + rest)
