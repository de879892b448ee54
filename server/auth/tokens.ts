import { createSigner, createVerifier } from 'fast-jwt';
import { ROLES, type Role } from '../../entities/user.js';
import { AppError } from '../errors.js';

export interface TokenClaims {
  /** User id. */
  sub: number;
  role: Role;
  name: string;
  /** When the token stops being valid (ms since the epoch); set by {@link TokenService.verify}. */
  expiresAt?: number;
}

export const TOKEN_ISSUER = 'exam-server';
export const TOKEN_AUDIENCE = 'exam-server';

/**
 * Issues and checks the JWTs that authenticate HTTP requests and socket handshakes. HS256 only: the
 * verifier pins the algorithm, issuer and audience and requires an expiry.
 */
export class TokenService {
  private readonly sign: (payload: Record<string, unknown>) => string;
  private readonly verifyRaw: (token: string) => Record<string, unknown>;

  constructor(secret: string, ttlSeconds: number) {
    this.sign = createSigner({
      key: secret,
      algorithm: 'HS256',
      expiresIn: ttlSeconds * 1000,
      iss: TOKEN_ISSUER,
      aud: TOKEN_AUDIENCE,
    });
    this.verifyRaw = createVerifier({
      key: secret,
      algorithms: ['HS256'],
      allowedIss: TOKEN_ISSUER,
      allowedAud: TOKEN_AUDIENCE,
      requiredClaims: ['exp', 'sub', 'role'],
      cache: 1000,
    });
  }

  issue(claims: TokenClaims): string {
    return this.sign({ sub: String(claims.sub), role: claims.role, name: claims.name });
  }

  /** Returns the claims of a valid token; throws `UNAUTHORIZED` for anything else. */
  verify(token: string): TokenClaims {
    let payload: Record<string, unknown>;
    try {
      payload = this.verifyRaw(token);
    } catch {
      throw new AppError('UNAUTHORIZED', 'Invalid or expired token');
    }
    const sub = Number(payload.sub);
    const role = ROLES.find((r) => r === payload.role);
    if (!Number.isSafeInteger(sub) || !role) throw new AppError('UNAUTHORIZED', 'Invalid or expired token');
    const exp = Number(payload.exp);
    return { sub, role, name: typeof payload.name === 'string' ? payload.name : '', expiresAt: exp * 1000 };
  }
}
