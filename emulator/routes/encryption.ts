/**
 * The controller's master passphrase (`/v1/encryption/passphrase`), after linstor-server's REST
 * class Encryption and CtrlConfApiCallHandler.setPassphrase / enterPassphrase (entries, codes and
 * texts as those build them) and EncryptionHelper:
 *
 * - POST creates it (201) and unlocks at once (setCryptKey); a second create is
 *   FAIL_EXISTS_CRYPT_PASSPHRASE.
 * - PUT changes it with the old one; it does not unlock (setPassphraseImpl only re-encrypts).
 * - PATCH (a bare JSON string) enters it: the master key is decrypted and held in memory; LUKS
 *   resources left undeployed for want of it are recalculated and deployed.
 * - GET answers `{"status": "unset" | "locked" | "unlocked"}` (REST 1.33+). The stored Encryption
 *   classes we could read have no GET; python-linstor's crypt_status reads one object, which the
 *   emulator answers, although the spec declares a list (docs/emulator.md).
 *
 * The master key is never persisted: a restarted emulator (or control.lockMasterKey) is locked.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Request } from 'express'
import { MASK_CRT, MASK_CTRL_CONF, MASK_MOD, RC, formatTimestamp } from '../api-call-rc.js'
import type { ReplyBuilder, ResponseContext } from '../api-call-rc.js'
import type { Emu } from '../context.js'
import type { RouteTable } from '../http-kit.js'
import { JavaException, mutation, query, readBody, readBodyString } from '../http-kit.js'
import { replicas } from '../model.js'
import type { EncryptionState } from '../model.js'
import * as T from '../request-types.js'

const ctrlCtx = (op: bigint): ResponseContext => ({ op, obj: MASK_CTRL_CONF, objRefs: {} })

function hashOf(salt: string, passphrase: string): string {
  return createHash('sha512').update(salt).update('\0').update(passphrase, 'utf8').digest('hex')
}

function matches(enc: EncryptionState, passphrase: string): boolean {
  const a = Buffer.from(hashOf(enc.salt, passphrase), 'hex')
  const b = Buffer.from(enc.hash, 'hex')
  return a.length === b.length && timingSafeEqual(a, b)
}

function newEncryption(passphrase: string): EncryptionState {
  const salt = randomBytes(16).toString('hex')
  return { salt, hash: hashOf(salt, passphrase) }
}

/** An entry exactly as the handler composes it (ResponseUtils.*Static: no context masks added). */
function entry(emu: Emu, reply: ReplyBuilder, retCode: bigint, message: string, opts: { cause?: string; correction?: string } = {}): void {
  reply.addAll([{ ret_code: retCode, message, ...(opts.cause !== undefined ? { cause: opts.cause } : {}), ...(opts.correction !== undefined ? { correction: opts.correction } : {}), created_at: formatTimestamp(emu.clock()) }])
}

const WRONG = {
  message: 'Could not restore master passphrase as the given old passphrase was incorrect',
  cause: 'Wrong passphrase',
  correction: 'Enter the correct passphrase',
}

/**
 * EncryptionHelper.setCryptKey after a first unlock: every resource is recalculated (LUKS_MISSING_KEY
 * goes away) and the satellites are updated; one entry per definition with a LUKS layer.
 */
function unlock(emu: Emu, reply: ReplyBuilder): void {
  const before = emu.masterKeyEntered === true
  emu.masterKeyEntered = true
  if (before) return
  for (const rd of Object.values(emu.state.resourceDefinitions)) {
    if (!rd.layerStack.includes('LUKS') || replicas(rd).length === 0) continue
    entry(emu, reply, 0n, `Updated resource definition ${rd.name}`)
  }
}

function passphraseArg(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new JavaException('NullPointerException', `Cannot invoke "String.getBytes(java.nio.charset.Charset)" because "${what}" is null`)
  return v
}

export function encryptionRoutes(emu: Emu, routes: RouteTable): void {
  /** CtrlConfApiCallHandler.setPassphraseInTransaction: a create without an old passphrase, else a change. */
  const setPassphrase = (emu: Emu, reply: ReplyBuilder, newRaw: unknown, oldRaw: unknown): void => {
    const enc = emu.state.encryption
    if (oldRaw === undefined) {
      const mask = MASK_CTRL_CONF | MASK_CRT
      if (enc !== undefined) {
        entry(emu, reply, mask | RC.FAIL_EXISTS_CRYPT_PASSPHRASE, 'Could not create new crypt passphrase as it already exists', {
          cause: 'A passphrase was already defined',
          correction: 'Use the crypt-modify-passphrase command instead of crypt-create-passphrase',
        })
        return
      }
      emu.state.encryption = newEncryption(passphraseArg(newRaw, 'newPassphrase'))
      unlock(emu, reply)
      entry(emu, reply, mask | RC.CREATED, 'Crypt passphrase created.')
      return
    }
    const mask = MASK_CTRL_CONF | MASK_MOD
    if (enc === undefined) {
      entry(emu, reply, mask | RC.FAIL_EXISTS_CRYPT_PASSPHRASE, 'Could not modify crypt passphrase as it does not exist', {
        cause: 'No passphrase was defined yet',
        correction: 'Use the crypt-create-passphrase command instead of crypt-modify-passphrase',
      })
      return
    }
    if (!matches(enc, passphraseArg(oldRaw, 'oldPassphrase'))) {
      entry(emu, reply, mask | RC.FAIL_MISSING_PROPS, WRONG.message, { cause: WRONG.cause, correction: WRONG.correction })
      return
    }
    emu.state.encryption = newEncryption(passphraseArg(newRaw, 'newPassphrase'))
    entry(emu, reply, mask | RC.MODIFIED, 'Crypt passphrase updated')
  }

  // Encryption.createPassphrase passes no old passphrase and answers 201; modifyPassphrase passes
  // the body's (which may be absent) and answers 200.
  routes.add(
    'post',
    '/v1/encryption/passphrase',
    mutation(emu, { ctx: ctrlCtx(MASK_CRT), successStatus: 201 }, (req: Request, reply) => {
      const body = readBody(req, T.PassPhraseCreate)
      setPassphrase(emu, reply, body['new_passphrase'], undefined)
    }),
  )

  routes.add(
    'put',
    '/v1/encryption/passphrase',
    mutation(emu, { ctx: ctrlCtx(MASK_MOD), successStatus: 200 }, (req: Request, reply) => {
      const body = readBody(req, T.PassPhraseCreate)
      setPassphrase(emu, reply, body['new_passphrase'], body['old_passphrase'])
    }),
  )

  routes.add(
    'patch',
    '/v1/encryption/passphrase',
    mutation(emu, { ctx: ctrlCtx(0n), successStatus: 200 }, (req: Request, reply) => {
      const passphrase = passphraseArg(readBodyString(req), 'passphrase')
      const enc = emu.state.encryption
      if (enc === undefined) {
        entry(emu, reply, MASK_CTRL_CONF | RC.FAIL_MISSING_PROPS, 'encrypted namespace is empty, you need to set a passphrase first')
        return
      }
      if (!matches(enc, passphrase)) {
        entry(emu, reply, MASK_MOD | MASK_CTRL_CONF | RC.FAIL_MISSING_PROPS, WRONG.message, { cause: WRONG.cause, correction: WRONG.correction })
        return
      }
      unlock(emu, reply)
      entry(emu, reply, MASK_CTRL_CONF | RC.PASSPHRASE_ACCEPTED, 'Passphrase accepted')
    }),
  )

  routes.add(
    'get',
    '/v1/encryption/passphrase',
    query(emu, ctrlCtx(0n), () => ({ status: emu.state.encryption === undefined ? 'unset' : emu.masterKeyEntered === true ? 'unlocked' : 'locked' })),
  )
}
