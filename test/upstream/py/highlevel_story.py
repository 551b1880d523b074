"""python-linstor's high-level API, as its documentation shows it, against one controller.

Usage: highlevel_story.py linstor://HOST:PORT
Prints one JSON object of what the API reported after each step. Any exception propagates
(a traceback, exit status 1), so the caller sees the first step that failed.
"""
import json
import sys

from linstor import Resource, Volume

uri = sys.argv[1]
out = {}

foo = Resource('foo', uri=uri)
foo.volumes[0] = Volume("10 GB")
foo.placement.redundancy = 2
foo.autoplace()
out['diskful_after_autoplace'] = sorted(foo.diskful_nodes())
out['size_after_create'] = foo.volumes[0].size

foo.volumes[0].size += 10 * 1024 ** 3
again = Resource('foo', uri=uri)
out['size_after_grow'] = again.volumes[0].size

nodes = ['alpha', 'bravo', 'charlie', 'delta']
free = [n for n in nodes if not again.is_assigned(n)]
out['unassigned_before_activate'] = free
node = free[0]
again.activate(node)
out['activated_diskless'] = again.is_diskless(node)
out['device_path'] = again.volumes[0].device_path
out['minor'] = again.volumes[0].minor
again.deactivate(node)
out['assigned_after_deactivate'] = again.is_assigned(node)

again.snapshot_create('snap1')
again.snapshot_create('snap2')
again.snapshot_rollback('snap1')
again.snapshot_rollback('snap2')
again.restore_from_snapshot('snap1', 'foo-restored')
restored = Resource('foo-restored', uri=uri)
out['restored_size'] = restored.volumes[0].size
out['restored_diskful'] = sorted(restored.diskful_nodes())
again.snapshot_delete('snap2')

again.diskless(node)
out['toggled_diskless'] = again.is_diskless(node)
again.diskful(node)
out['toggled_diskful'] = again.is_diskful(node)
again.delete(node)
out['diskful_after_node_delete'] = again.is_diskful(node)

restored.delete()
again.delete()
out['exists_after_delete'] = Resource('foo', uri=uri)._linstor_name is not None

print(json.dumps(out))
