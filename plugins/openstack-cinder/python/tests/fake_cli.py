"""A stand-in for `linstor-virt call --stdin` in the transport tests.

argv: <record file> <mode> call --stdin. Writes its argv and the request it read to the record
file, then answers per mode: `echo` (a result naming the operation, after a line of noise),
`sleep` (never answers), `garbage` (no JSON), `silent` (nothing, exit 3). Asked for `agent` (the driver's private agent), it exits 2 at once.
"""
import json
import sys
import time

record, mode = sys.argv[1], sys.argv[2]
if sys.argv[3:4] == ['agent']:
    # Not an agent: the driver's private agent cannot start from this command.
    sys.stderr.write('no agent here\n')
    sys.exit(2)
request = sys.stdin.read()
with open(record, 'w') as f:
    json.dump({'argv': sys.argv[3:], 'request': json.loads(request)}, f)
if mode == 'echo':
    print('some log line the command printed first')
    op = json.loads(request)['operation']
    print(json.dumps({'v': 1, 'result': {'via': 'command', 'operation': op}}))
elif mode == 'sleep':
    time.sleep(60)
elif mode == 'garbage':
    print('this is not json')
else:
    sys.stderr.write('cannot do that\n')
    sys.exit(3)
