// GET/POST /console/login and POST /console/logout. Logging in is the API's login operation (the
// same limits per account and address, the same concurrency gate); only system admins log in here.
import { z } from 'zod';
import type { SiloContext } from '../../../context.ts';
import { revokeTokens } from '../../../control-plane/token-subjects.ts';
import { logIn } from '../../../operations/login.ts';
import type { LoginGuardsFor } from '../../routes/auth.ts';
import { tokenResponseHeaders } from '../../routes/auth.ts';
import type { Web } from '../env.ts';
import { explain } from '../errors.tsx';
import { Page } from '../layout.tsx';
import { endSession, requireConsoleSession, startSession, toLogin } from '../session.ts';

const reasons: Record<string, string> = {
  ended: 'Your session has ended. Log in again.',
  'not-admin': 'That login is not a system admin’s: the console is for system admins only.',
  'logged-out': 'You are logged out.',
};

const LoginForm = z.object({ email: z.string().trim().min(1).max(320), password: z.string().min(1).max(1000) });

function LoginPage({ error, notice, email }: { error?: string | undefined; notice?: string | undefined; email?: string }) {
  return (
    <Page title="Log in" section="login" error={error} notice={notice}>
      <form class="stack" method="post" action="/console/login">
        <label>
          Email
          <input name="email" type="email" autocomplete="username" required value={email ?? ''} />
        </label>
        <label>
          Password
          <input name="password" type="password" autocomplete="current-password" required />
        </label>
        <button type="submit">Log in</button>
      </form>
    </Page>
  );
}

export function registerLoginPages(web: Web, ctx: SiloContext, guards: LoginGuardsFor) {
  web.get('/login', (c) => c.html(<LoginPage notice={reasons[c.req.query('reason') ?? '']} />, 200, tokenResponseHeaders));

  web.post('/login', async (c) => {
    const form = LoginForm.safeParse(await c.req.parseBody());
    if (!form.success) return c.html(<LoginPage error="Give an email and a password." />, 400);
    try {
      const { issued } = await logIn(ctx, guards(c), { email: form.data.email, password: form.data.password });
      startSession(c, ctx, issued);
      return c.redirect('/console', 303);
    } catch (error) {
      const { status, message } = await explain(error, c, ctx.log);
      // The API's wording names a company, which this form has none of.
      const shown = status === 401 ? 'The email or password is not right.' : message;
      return c.html(<LoginPage error={shown} email={form.data.email} />, status);
    }
  });

  web.post('/logout', requireConsoleSession(ctx), async (c) => {
    // Every token of this admin ends, in every instance (the revocation is in the management database).
    await revokeTokens(ctx, c.get('auth'));
    endSession(c);
    return c.redirect('/console/login?reason=logged-out', 303);
  });

  // A session that has ended is sent to the login page rather than to an error.
  web.get('/logout', (c) => toLogin(c));
}
