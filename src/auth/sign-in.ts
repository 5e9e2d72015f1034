import type { Accounts } from '../accounts/accounts';
import type { ReauthGuard } from '../accounts/lockout';
import { verifyPassword } from '../accounts/passwords';
import { AppError } from '../api/errors';
import type { SignInThrottle } from './sign-in-throttle';

const wrongCredentials = () => new AppError(401, 'UNAUTHENTICATED', 'Wrong username or password');

/**
 * POST /v1/sessions. Every try passes the back-off (per username string and per client), and a
 * try at an existing account is one of its counted tries (R-LOCK): wrong passwords lock it like
 * failed re-authentications, and a locked account refuses even the right password. Unknown user,
 * wrong password and locked account get one answer, after the same argon2 work.
 */
export class SignIn {
  constructor(
    private readonly accounts: Accounts,
    private readonly guard: ReauthGuard,
    private readonly throttle: SignInThrottle,
  ) {}

  async signIn(username: string, password: string, client: string): Promise<{ token: string; expiresAt: Date }> {
    const claim = await this.throttle.claim(username, client);
    const user = await this.accounts.credentials(username);
    // Sign-in never waits for other tries under way: waiting would tell that the account exists.
    const outcome = user ? await this.guard.tryProof(user.id, () => verifyPassword(user.passwordHash, password), 0) : undefined;
    if (outcome?.kind === 'passed') {
      await claim.succeeded();
      return this.accounts.openSession(user!.id);
    }
    // An unknown user, a locked account or one whose tries are all under way: the password was not checked yet.
    if (outcome?.kind !== 'failed') await verifyPassword(user?.passwordHash, password);
    throw wrongCredentials();
  }
}
