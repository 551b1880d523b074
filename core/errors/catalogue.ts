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
    summary: 'The operation was cancelled by its caller.',
    remedy: 'None: the caller stopped waiting (for example on shutdown).',
  },
} as const

export type ErrorCode = keyof typeof ERROR_CATALOGUE
