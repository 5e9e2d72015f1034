/**
 * English: the reference catalogue. Every other language has exactly these keys (a type and
 * test/i18n check it) and the same {{placeholders}} in each message. `{{app}}` is APP_NAME.
 */
export const en = {
  meta: {
    /** The language's own name, and the Intl locale its dates and numbers are written in. */
    name: 'English',
    dateLocale: 'en-GB',
  },
  common: {
    backToApp: 'Back to {{app}}',
    openApp: 'Open {{app}} to continue.',
    support: 'Help and support',
    startOver: 'To try again, open {{app}} and start the email change from your profile.',
  },
  wait: {
    seconds_one: '{{n}} second',
    seconds_other: '{{n}} seconds',
    minutes_one: '{{n}} minute',
    minutes_other: '{{n}} minutes',
    hours_one: '{{n}} hour',
    hours_other: '{{n}} hours',
  },
  page: {
    confirm: {
      titleNew: 'Confirm your email address',
      titleOld: 'Confirm the change of your account email',
      introAdd: 'Confirm {{email}} as the email address of your {{app}} account.',
      introUpdate: 'Confirm {{email}} as the new email address of your {{app}} account.',
      introOld: 'Your {{app}} account is asking to change its email address from {{from}} to {{to}}. The change needs your confirmation from this address too.',
      press: 'Press the button to confirm. Nothing changes until you do.',
      expires: 'This link works until {{date}}.',
      button: 'Confirm',
      notYou: 'If you did not ask for this, close this page: nothing will change.',
    },
    alreadyConfirmed: {
      title: 'Already confirmed',
      body: 'This address is already confirmed. There is nothing more to do here.',
    },
    taken: {
      title: 'This address belongs to another account',
      body: 'Another account confirmed this email address first, so it cannot be added to yours.',
    },
    accountChanged: {
      title: 'The account email changed meanwhile',
      body: "The account's email address changed while this request was open, so this request was stopped. Nothing else changed.",
    },
    invalid: {
      title: 'This link is not valid',
      body: 'The link is incomplete or was changed. Open it straight from the email, or copy the whole address.',
    },
    dead: {
      expired: { title: 'This link has expired', body: 'Links work for a limited time.' },
      resent: { title: 'A newer link was sent', body: 'Only the most recent link works. Use the latest email we sent you.' },
      superseded: { title: 'This request was replaced', body: 'A newer email change request replaced this one, so its links no longer work.' },
      cancelled: { title: 'This request was cancelled', body: 'The email change was cancelled, so its links no longer work.' },
      finished: { title: 'This request is finished', body: 'This email change is already complete or closed.' },
      resendHint: 'We can send a new link to the same address.',
      resendButton: 'Send a new link',
    },
    confirmed: {
      oneLeftTitle: 'Confirmed, one step left',
      waitingForOld:
        '{{email}} is confirmed: the first of two confirmations. The change also needs the link we sent to your current address, {{other}}, and completes once that is confirmed too.',
      waitingForNew:
        'Your current address approved the change: the first of two confirmations. It completes once the new address, {{other}}, is confirmed with the link we sent there.',
      notYet: 'Until then, your account keeps its current email address.',
      appliedTitle: 'Your email address is confirmed',
      appliedNew: 'Your {{app}} account now uses {{email}}. You can close this page.',
      completeTitle: 'The email change is complete',
      appliedOld: 'Both addresses confirmed. Your {{app}} account now uses {{other}}; this address no longer receives mail for the account. You can close this page.',
    },
    resent: {
      title: 'A new link is on its way',
      body: 'We sent a new link. Open the newest email; earlier links no longer work.',
    },
    rateLimited: {
      title: 'Please wait',
      wait: 'We cannot send another link just yet. You can ask again in {{wait}}, at {{date}}.',
      capped: 'No new links are left for this request.',
    },
    unavailable: {
      title: 'Please try again in a moment',
      body: 'We could not reach part of our service just now. Nothing was changed. Reload this page in a minute; your link still works.',
    },
    error: {
      title: 'Something went wrong',
      body: 'Nothing was changed. Open the link from the email again in a little while.',
    },
    revert: {
      confirmTitle: 'Undo the change of your account email?',
      confirmIntro: 'The email address of your {{app}} account was changed from {{from}} to {{to}}. If this was not you, undo it here.',
      effects:
        "Undoing makes this address the account's email again, signs out every session, removes every device key and pauses email changes for a while. Nothing happens until you press the button.",
      expires: 'This link works until {{date}}.',
      button: "This wasn't me: undo the change",
      doneTitle: 'The change was undone',
      doneBody: 'Your {{app}} account uses {{email}} again. Every session was signed out and every device key removed.',
      doneBlocked: 'Email changes are paused until {{date}}. Sign in again and change your password; contact support if you need help.',
      alreadyTitle: 'Already undone',
      alreadyBody: 'This change was already undone. There is nothing more to do here.',
      closedTitle: 'This undo link no longer works',
      closedBody: "The time to undo this change has passed, or the account was already restored. If someone else changed your account's email, contact support.",
      refusedTitle: 'The change could not be undone',
      refusedBody: 'Your previous address now belongs to another account, so it cannot be restored here. Contact support.',
    },
  },
  mail: {
    verify: {
      subjectAdd: 'Confirm your email address',
      subjectUpdate: 'Confirm your new email address',
      subjectOld: 'Confirm the change of your account email',
      introAdd: 'Someone asked to add this address to their {{app}} account.',
      introUpdate: 'Someone asked to make this the email address of their {{app}} account.',
      introOld: 'Someone asked to change the email address of your {{app}} account from this address to {{to}}. The change needs your confirmation here too.',
      confirmHere: 'Confirm here:',
      button: 'Review and confirm',
      copy: 'Or copy this address into your browser:',
      code: 'Or, signed in to {{app}}, type this code: {{code}}. It works as long as the link does.',
      expires: 'The link works once and expires on {{date}}.',
      notYou: "If this wasn't you, do not open the link: nothing changes without it. Consider changing your password.",
      requested: 'Requested on {{date}}, after the account holder re-authenticated with {{method}}.',
      requested_device: 'Requested on {{date}} on {{device}}, after the account holder re-authenticated with {{method}}.',
      requested_ip: 'Requested on {{date}} from the network address {{ip}}, after the account holder re-authenticated with {{method}}.',
      requested_both: 'Requested on {{date}} on {{device}} from the network address {{ip}}, after the account holder re-authenticated with {{method}}.',
      method: { password: 'a password', biometric: 'a biometric device key', idToken: "a fresh sign-in at the app's identity provider" },
    },
    notice: {
      subject: 'Your account email was changed',
      body: 'The email address of your {{app}} account was changed to {{to}} on {{date}}. This address no longer receives mail for the account.',
      notYou: "If this wasn't you, contact support at once: someone may have access to your account.",
      undo: "If this wasn't you, undo the change with the link below before {{date}}: it makes this address the account's email again, signs every device out and pauses email changes.",
      undoButton: "This wasn't me: undo the change",
    },
    reminder: {
      subject: 'Reminder: your email change is waiting for confirmation',
      intro: 'This request expires on {{date}} unless it is confirmed. Here is a fresh link; the one we sent before no longer works.',
    },
    lapsed: {
      subject: 'Your email change request expired',
      body: 'The request to use {{email}} as the email address of a {{app}} account was not confirmed in time and expired on {{date}}. Nothing changed.',
      next: 'To try again, start a new email change in {{app}}. If you did not ask for this, you can ignore this email.',
    },
    reverted: {
      subjectOld: 'The change of your account email was undone',
      bodyOld: 'The change of your {{app}} account email to {{removed}} was undone from this address on {{date}}. This address is the account email again.',
      signedOut: 'Every session and device key of the account was signed out. Sign in again and change your password.',
      blocked: 'Email changes on the account are paused until {{date}}; support can lift this sooner.',
      subjectNew: 'The email change to this address was undone',
      bodyNew: "On {{date}}, the change of a {{app}} account's email to this address was undone from the account's previous address. This address no longer receives mail for the account.",
      notYouNew: 'If you made that change, contact support.',
    },
    sentBy: 'This email was sent by {{app}}.',
  },
};

/** The shape every catalogue has: the same keys as English, each a string. */
export type Catalogue = Messages<typeof en>;
type Messages<T> = { [K in keyof T]: T[K] extends string ? string : Messages<T[K]> };
