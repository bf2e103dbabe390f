/**
 * The server's commands as typed calls: which argument and which result each one has,
 * from the generated contract (`contract.ts`, made from the server's `contract.py`), and
 * how its errors read. Pure: no runtime import of `vscode`, so `node --test` runs it.
 */

import { LSPErrorCodes } from 'vscode-languageserver-protocol';

import * as contract from './contract';

/** A table that must name every command of the contract: a new server command that the
 * client does not type is a compile error here. */
type Complete<T extends { [K in contract.CommandName]: readonly [object, object] }> = T;

/** Argument and result of each `localroute.*` command. */
export type Signatures = Complete<{
  [contract.REVIEW]: [contract.TaskArgs, contract.ReviewResult | contract.Accepted];
  [contract.EXPLAIN]: [contract.TaskArgs, contract.ExplainResult | contract.Accepted];
  [contract.ROUTE]: [contract.RouteArgs, contract.RouteResult];
  [contract.STATUS]: [contract.EmptyArgs, contract.StatusResult];
  [contract.CLEAR]: [contract.UriArgs, contract.ClearResult];
  [contract.REVIEW_FILES]: [contract.ReviewFilesArgs, contract.ReviewFilesResult];
  [contract.START_BACKEND]: [contract.BackendArgs, contract.BackendResult];
  [contract.STOP_BACKEND]: [contract.BackendArgs, contract.BackendResult];
}>;

export type ArgsOf<C extends contract.CommandName> = Signatures[C][0];
export type ResultOf<C extends contract.CommandName> = Signatures[C][1];

/** A task answered at once, its result to come as diagnostics or hover (a server told to
 * deliver results later; this client asks it not to, see client.ts). */
export function isAccepted(result: unknown): result is contract.Accepted {
  return typeof result === 'object' && result !== null && (result as { accepted?: unknown }).accepted === true;
}

/** The commands that take a consent token after a refusal. */
export type TaskCommand = typeof contract.REVIEW | typeof contract.EXPLAIN;

/** A JSON-RPC error as the language client rejects with it (`ResponseError`). */
interface ErrorLike {
  code?: unknown;
  message?: unknown;
  data?: unknown;
}

export function errorCode(err: unknown): number | undefined {
  const code = (err as ErrorLike | undefined)?.code;
  return typeof code === 'number' ? code : undefined;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The server refused or failed the command (it has already said why with showMessage). */
export function isRequestFailed(err: unknown): boolean {
  return errorCode(err) === LSPErrorCodes.RequestFailed;
}

/** The request was cancelled (by the user, or by the server on shutdown). */
export function isCancelled(err: unknown): boolean {
  const code = errorCode(err);
  return code === LSPErrorCodes.RequestCancelled || code === LSPErrorCodes.ServerCancelled;
}

/**
 * The consent a privacy refusal offers (`error.data.consent`), checked field by field;
 * undefined for any other error. Only a refusal with code RequestFailed carries one.
 */
export function consentOffer(err: unknown): contract.ConsentOfferData | undefined {
  if (!isRequestFailed(err)) {
    return undefined;
  }
  const data = (err as ErrorLike).data as Partial<contract.RefusalData> | null | undefined;
  const offer = data?.consent as Partial<contract.ConsentOfferData> | undefined;
  if (
    typeof offer !== 'object' ||
    offer === null ||
    typeof offer.token !== 'string' ||
    offer.token === '' ||
    typeof offer.backend !== 'string' ||
    offer.backend === '' ||
    typeof offer.expires_in_s !== 'number'
  ) {
    return undefined;
  }
  return { token: offer.token, backend: offer.backend, expires_in_s: offer.expires_in_s };
}

export interface ConsentQuestion {
  /** The modal's title line. */
  message: string;
  /** The modal's text: the file, the reason, what "yes" does. */
  detail: string;
  /** The one button that sends. */
  send: string;
}

/** What the user is asked before a refused request goes to the named cloud backend. */
export function consentQuestion(
  task: string,
  file: string,
  reason: string,
  offer: contract.ConsentOfferData,
): ConsentQuestion {
  const reasonText = reason.replace(/\s+/g, ' ').trim();
  return {
    message: `Send ${file} to ${offer.backend} for ${task} anyway?`,
    detail:
      `${reasonText}\n\n` +
      `Yes sends this one request — the file as it is now — to the cloud backend ` +
      `"${offer.backend}", once. The choice is not remembered; the offer expires in ` +
      `${offer.expires_in_s} s.`,
    send: `Send to ${offer.backend} anyway (this once)`,
  };
}

/** The same argument with the consent token added (a copy; the original is untouched). */
export function withConsent(argument: contract.TaskArgs, token: string): contract.TaskArgs {
  return { ...argument, consent: token };
}
