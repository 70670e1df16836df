// Who is signed in: the bearer token the operator pasted, kept in sessionStorage (this tab only, gone when
// it closes; never localStorage). An OIDC sign-in would keep its access token here the same way.

const TOKEN_KEY = 'selfheal-token';

export const session = {
  /** The bearer token, or '' when signed out. */
  token(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};
