/**
 * The one catalogue of error codes for the whole project. Callers branch on `err.code`, never on
 * message text. docs/errors.md documents every code with its remedy; a test keeps the two in step.
 */
export const ERROR_CATALOGUE = {
  LINSTOR_API_ERROR: {
    summary: 'The LINSTOR controller answered with an error entry (ERROR mask in a ret_code).',
    remedy: 'Read the message, cause and correction from the controller; error report ids name the controller-side reports (`linstor error-reports show ID`).',
  },
  LINSTOR_NOT_FOUND: {
    summary: 'The controller answered 404 with a not-found entry (codes 300-399): the object does not exist.',
    remedy: 'Check the name; objects are looked up case-insensitively.',
  },
  LINSTOR_UNAUTHORIZED: {
    summary: 'The controller refused the request (401/403): missing or invalid bearer token, client certificate or credentials.',
    remedy: 'Check the token (or token file) and the TLS client certificate configured for the controller.',
  },
  LINSTOR_HTTP_ERROR: {
    summary: 'The controller (or something in front of it) answered an HTTP error without a LINSTOR reply list.',
    remedy: 'Check that the controller URL points at a LINSTOR controller and not at a proxy or another service.',
  },
  LINSTOR_BAD_REPLY: {
    summary: 'The controller reply could not be parsed or did not have the expected shape.',
    remedy: 'Check the controller version (REST API 1.x is required); report the reply if the controller is current.',
  },
  LINSTOR_UNAVAILABLE: {
    summary: 'No controller could be reached: every controller refused, timed out or failed before the request was sent.',
    remedy: 'Check that a LINSTOR controller is running and reachable at one of the configured URLs (controllers option, LS_CONTROLLERS, /etc/linstor/linstor-client.conf).',
  },
  LINSTOR_OUTCOME_UNKNOWN: {
    summary: 'The connection failed after a non-idempotent request was sent: the controller may or may not have applied it.',
    remedy: 'Look at the object in LINSTOR before repeating the operation; linstor-virt operations converge when repeated.',
  },
  LINSTOR_DEADLINE: {
    summary: 'The call did not finish within its deadline.',
    remedy: 'The controller or its satellites are slow or hanging; check `linstor node list` and the controller log.',
  },
  LOCK_TIMEOUT: {
    summary: 'Another operation on the same resource held its lock for longer than the wait allows.',
    remedy: 'The message names the holding process; if it hangs, find out why (it holds the lock until it ends), otherwise retry.',
  },
  CONFIG_INVALID: {
    summary: 'A configuration value is invalid.',
    remedy: 'The message names the setting and what is expected of it.',
  },
  ABORTED: {
    summary: 'The operation was cancelled by its caller, or a LINSTOR write was not sent because the call it belongs to is past its deadline.',
    remedy: 'None: the caller stopped waiting (for example on shutdown, or after CALL_DEADLINE). Repeat the operation; linstor-virt doctor --fix settles anything left half done.',
  },
  PLACEMENT_GROUP_MISSING: {
    summary: 'The resource group named by the placement policy does not exist on the controller.',
    remedy: 'Create the group (`linstor resource-group create NAME ...`) or fix the name in the storage configuration.',
  },
  PLACEMENT_FAILED: {
    summary: 'LINSTOR could not place the replicas the policy asks for (not enough nodes, pools or space).',
    remedy: 'Read the controller\'s reasons in the message; lower the place count, add storage, or loosen the policy.',
  },
  RESOURCE_NOT_FOUND: {
    summary: 'The resource (or its volume) does not exist.',
    remedy: 'Check the name; a deleted volume cannot be attached, grown or cloned.',
  },
  RESOURCE_CONFLICT: {
    summary: 'A resource exists with a different shape than the one requested (volume count or size, resource group).',
    remedy: 'Pick another name, or delete the existing resource after checking nobody uses it.',
  },
  RESOURCE_IN_USE: {
    summary: 'The resource is in use (DRBD Primary) on a node, so it cannot be deleted, rolled back or detached there.',
    remedy: 'Stop the VM that uses it first; the message names the node(s).',
  },
  CONTROLLER_VM_PROTECTED: {
    summary: 'The volume belongs to a configured LINSTOR controller VM and is never deleted.',
    remedy: 'Remove the VM from the controller VM setting first if you really mean to delete its disk.',
  },
  SHRINK_REFUSED: {
    summary: 'A resize asked for a smaller size than the volume has: volumes only grow.',
    remedy: 'Ask for a size at least as large as the current one (DRBD cannot shrink a deployed volume).',
  },
  HAS_SNAPSHOTS: {
    summary: 'The resource still has snapshots and the delete was not told to remove them.',
    remedy: 'Delete the snapshots first, or delete with snapshots included.',
  },
  ROLLBACK_BLOCKED: {
    summary: 'A rollback to a snapshot is blocked by newer snapshots (this controller or ZFS strategy rolls back to the newest only).',
    remedy: 'Delete the newer snapshots named in the message, or roll back with the option to remove them.',
  },
  SNAPSHOT_NOT_FOUND: {
    summary: 'The snapshot does not exist (or did not finish).',
    remedy: 'Check the snapshot name; list snapshots of the volume.',
  },
  NOT_SHARED: {
    summary: 'The volume has no DRBD or NVMe-oF layer, so it exists only on the nodes that hold it and cannot be attached elsewhere.',
    remedy: 'Run the VM on a node that holds the volume, or use a policy with the DRBD layer.',
  },
  MIGRATION_CONFLICT: {
    summary: 'Another live migration of the same volume is still in progress between other hosts.',
    remedy: 'Let the running migration finish (or abort it), or run `linstor-virt doctor` if it was left behind by a crash.',
  },
  CLONE_FAILED: {
    summary: 'A clone did not complete.',
    remedy: 'Read the cause; the half-made target is removed so the clone can be retried.',
  },
  LAST_REPLICA: {
    summary: 'Removing this replica would leave the resource with no disk (or with fewer replicas than allowed).',
    remedy: 'Add a replica elsewhere first.',
  },
  CALL_INVALID: {
    summary: 'A call request does not follow the protocol (not JSON, not an object, a missing or ill-typed field, too large).',
    remedy: 'Fix the caller (a platform shim); the message names each bad field.',
  },
  UNKNOWN_OPERATION: {
    summary: 'The request names a platform or operation nobody registered.',
    remedy: 'Check the shim and linstor-virt versions match; the message lists the known operations.',
  },
  CALL_DEADLINE: {
    summary: 'The call did not finish within its deadline (status-type calls: 2 seconds).',
    remedy: 'The controller or a satellite is slow or hanging; status calls answer from cache when they can.',
  },
  REMOTE_FAILED: {
    summary: 'A command run on a host over ssh failed (it ran, and exited non-zero).',
    remedy: 'The message names the host, the command and its last error line; fix the host (permissions, missing tool) and retry.',
  },
  HOST_UNREACHABLE: {
    summary: 'A host could not be reached over ssh (connection refused, timeout, authentication).',
    remedy: 'Check passwordless ssh from the front-end to the host as oneadmin (`ssh <host> true`); a dead host is expected during recovery, where the driver skips it.',
  },
  IMAGE_SOURCE_UNSUPPORTED: {
    summary: 'An image path uses a source kind this driver does not read.',
    remedy: 'Use an http(s) URL or a local path inside SAFE_DIRS, or import the image into another datastore first.',
  },
  IMAGE_SOURCE_RESTRICTED: {
    summary: 'A local image path lies in a restricted directory of the datastore.',
    remedy: "Move the file under one of the datastore's SAFE_DIRS, or change RESTRICTED_DIRS / SAFE_DIRS of the datastore.",
  },
  IMAGE_CHECKSUM_MISMATCH: {
    summary: 'The downloaded image does not match the MD5 or SHA1 given in the image template.',
    remedy: 'Check the checksum attribute or the source; nothing was written into a volume.',
  },
  IMAGE_FETCH_FAILED: {
    summary: 'The image could not be read from its source (HTTP error, missing file, conversion failure).',
    remedy: 'The message names the source and the cause; check the URL or file and retry.',
  },
  ONE_CLI_FAILED: {
    summary: 'An OpenNebula command (onevm, onedatastore, oneimage) failed or printed no usable XML.',
    remedy: 'Run the same command as oneadmin on the front-end (`onevm show -x ID`); check ONE_AUTH and that oned runs.',
  },
  ONE_DOCUMENT_INVALID: {
    summary: 'The arguments or XML document OpenNebula passed to a driver action are not what the action expects.',
    remedy: 'Check the OpenNebula version (6.0 to 7.x are supported) and the driver name in oned.conf; the message names the missing element or argument.',
  },
  VOLUME_TYPE_INVALID: {
    summary: 'A Cinder volume type carries a linstor: extra spec that is unknown or has a bad value.',
    remedy: 'Fix the spec with `openstack volume type set --property linstor:<key>=<value> <type>` (or unset it); the message names the key and what it must be.',
  },
  MULTIATTACH_UNSUPPORTED: {
    summary: 'A volume was asked to be writable on more than one host at once outside a live migration.',
    remedy: 'DRBD volumes are attached to one host at a time (two only while a live migration runs); use a volume type without multiattach.',
  },
  MANAGE_REF_INVALID: {
    summary: 'The reference given to `cinder manage` names no LINSTOR resource that can be adopted.',
    remedy: 'Pass `--id-type source-name` with the LINSTOR resource name (`linstor resource-definition list`); it must exist, have exactly one volume and not belong to another Cinder volume.',
  },
  NODE_NOT_FOUND: {
    summary: 'A host name, mapped through the adapter\'s node map, is not a LINSTOR node.',
    remedy: 'Add the host to LINSTOR as a satellite, or map its platform name to its LINSTOR node name (Cinder: linstor_virt_node_map).',
  },
  INTERNAL_ERROR: {
    summary: 'An unexpected error (a bug) ended the call.',
    remedy: 'Report it with the log line; the message is the original error\'s.',
  },
  NAME_COLLISION: {
    summary: 'The LINSTOR object found under the name a platform name maps to belongs to another platform name (LINSTOR compares names without regard to case), or to nobody of that spelling.',
    remedy: 'The message names both names. Use another name for a new volume or snapshot; nothing was created, changed or deleted. An adopted object keeps working under its exact spelling.',
  },
  BASE_IN_USE: {
    summary: 'A template\'s base volume still has linked clones, so it cannot be freed.',
    remedy: 'Remove the linked clones named in the message first (or turn them into full clones).',
  },
  PASSPHRASE_LOCKED: {
    summary: 'The volume has a LUKS layer and the LINSTOR controller\'s master passphrase is not entered (it was never created, or the controller restarted): LINSTOR can neither create nor deploy encrypted volumes.',
    remedy: 'Enter the master passphrase on the controller (`linstor encryption enter-passphrase`, or create one with `linstor encryption create-passphrase`), then retry; nothing was changed.',
  },
  DR_REPLICA: {
    summary: 'The node holds the volume\'s disaster-recovery replica (asynchronous, behind DRBD Proxy): it never runs the VM and is no migration target.',
    remedy: 'Attach or migrate to a node of the local site; to run the VM at the DR site after a disaster, remove the DR marking first (a failover is the operator\'s decision).',
  },
  LINSTOR_REPLY_TOO_LARGE: {
    summary: 'A controller\'s reply was larger than anything LINSTOR legitimately sends for that request (reads: 128 MiB, a view of 10,000 volumes takes about 62 MiB; writes: 4 MiB); it was not read further nor asked again.',
    remedy: 'Check that the controller URL points at a LINSTOR controller; a cluster with far more than 10,000 volumes per view is beyond what linstor-virt reads in one reply.',
  },
  CALL_FORBIDDEN: {
    summary: 'The request asks the agent for something its caller\'s platform configuration does not allow: a controller, a token, certificate or key file, or a folder that no root-owned configuration of this host names, or a platform this listener does not serve.',
    remedy: 'Name the controller, file or folder in the platform\'s own configuration (storage.cfg, cinder.conf) or in /etc/linstor-virt/agent.conf, then restart the agent (docs/reliability.md, trust boundaries).',
  },
} as const

export type ErrorCode = keyof typeof ERROR_CATALOGUE
