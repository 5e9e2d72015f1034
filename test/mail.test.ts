import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SMTPServer } from 'smtp-server';
import { createMailTransport } from '../src/mail/transport';
import { startSmtpCapture, type SmtpCapture } from '../src/dev/smtp-capture';

let smtp: SmtpCapture;
beforeAll(async () => {
  smtp = await startSmtpCapture();
});
afterAll(() => smtp?.stop());

describe('mail over real SMTP', () => {
  it('a message sent with nodemailer arrives and is read back with its links', async () => {
    const transport = createMailTransport(smtp.url);
    const info = await transport.sendMail({
      from: 'Email change <no-reply@example.com>',
      to: 'reader@example.com',
      subject: 'Hello',
      text: 'Open http://localhost:3000/verify-email?token=abc to continue.',
      html: '<p>Open <a href="http://localhost:3000/verify-email?token=abc">the link</a>.</p>',
    });
    expect(info.accepted).toEqual(['reader@example.com']);
    const mail = await smtp.waitForMessage('Reader@Example.com');
    expect(mail.subject).toBe('Hello');
    expect(mail.links).toEqual(['http://localhost:3000/verify-email?token=abc']);
    expect(mail.html).toContain('<a href=');
    transport.close();
  });

  it('a server answering 421 then 550 makes sendMail fail with that code', async () => {
    const transport = createMailTransport(smtp.url);
    smtp.failNext(1, 421, '421 try again later');
    await expect(transport.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })).rejects.toMatchObject({ responseCode: 421 });
    smtp.failNext(1, 550, '550 no such mailbox');
    await expect(transport.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'x' })).rejects.toMatchObject({ responseCode: 550 });
    await transport.sendMail({ from: 'a@example.com', to: 'b@example.com', text: 'third time' });
    expect(smtp.messagesTo('b@example.com').map((m) => m.text.trim())).toEqual(['third time']);
    transport.close();
  });
});

describe('mail to a relay other than this machine is encrypted (issue #9 item 12)', () => {
  // 127.0.0.2 is another address of this machine that the service treats like any remote relay.
  async function plainRelay(): Promise<{ url: string; received: string[]; stop(): Promise<void> }> {
    const received: string[] = [];
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          received.push(...session.envelope.rcptTo.map((r) => r.address));
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', () => resolve()));
    const { port } = server.server.address() as { port: number };
    return { url: `smtp://127.0.0.2:${port}`, received, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }

  it('a relay that offers no STARTTLS gets nothing, unless SMTP_ALLOW_INSECURE says so', async () => {
    const relay = await plainRelay();
    try {
      const strict = createMailTransport(relay.url);
      await expect(strict.sendMail({ from: 'a@example.com', to: 'victim@example.com', text: 'a live link' })).rejects.toThrow(/STARTTLS/i);
      strict.close();
      expect(relay.received).toEqual([]);

      const allowed = createMailTransport(relay.url, { allowInsecure: true });
      await allowed.sendMail({ from: 'a@example.com', to: 'catcher@example.com', text: 'development only' });
      allowed.close();
      expect(relay.received).toEqual(['catcher@example.com']);
    } finally {
      await relay.stop();
    }
  });
});
