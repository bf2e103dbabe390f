/**
 * Explicit consent, the only way past a privacy refusal: when the server refuses a review
 * or an explanation for privacy and offers a one-time token, the user is asked in a modal
 * whether this one request may go to the named cloud backend. Yes re-runs the same command
 * with `consent` added; anything else (No, Escape, closing the dialog) sends nothing.
 * Never automatic, never remembered: each refusal asks again.
 */

import * as vscode from 'vscode';

import { consentOffer, consentQuestion, errorText, withConsent } from './api';
import type { TaskArgs } from './contract';

/** Runs a task command; on a refusal that offers consent, asks, and on yes runs it once more. */
export async function withConsentPrompt<R>(
  task: string,
  argument: TaskArgs,
  run: (argument: TaskArgs) => Promise<R>,
  log?: vscode.LogOutputChannel,
): Promise<R> {
  try {
    return await run(argument);
  } catch (err) {
    const offer = consentOffer(err);
    if (offer === undefined) {
      throw err;
    }
    const file = describeUri(argument.uri);
    const question = consentQuestion(task, file, errorText(err), offer);
    const choice = await vscode.window.showWarningMessage(
      question.message,
      { modal: true, detail: question.detail },
      question.send,
    );
    if (choice !== question.send) {
      log?.info(`consent for ${file} → ${offer.backend}: declined; nothing was sent`);
      throw err;
    }
    log?.info(`consent for ${file} → ${offer.backend}: given for this one request`);
    // One more try only: a second refusal is answered as it is, never with a second prompt.
    return await run(withConsent(argument, offer.token));
  }
}

/** The file as the user sees it: relative to the workspace when inside it. */
function describeUri(uri: string): string {
  try {
    const parsed = vscode.Uri.parse(uri);
    return parsed.scheme === 'file' ? vscode.workspace.asRelativePath(parsed) : uri;
  } catch {
    return uri;
  }
}
