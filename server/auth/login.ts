import type { EntityManager } from '@mikro-orm/postgresql';
import { User, type Role } from '../../entities/user.js';
import { AppError } from '../errors.js';
import { dummyHash, verifyPassword } from './passwords.js';
import type { TokenService } from './tokens.js';

export interface PublicUser {
  id: number;
  name: string;
  email: string;
  role: Role;
}

export const publicUser = (u: User): PublicUser => ({ id: u.id, name: u.name, email: u.email, role: u.role });

/**
 * Checks an e-mail and password and issues a token. An unknown e-mail and a wrong password give the
 * same error after the same work (a hash is verified either way), so logins do not reveal who exists.
 */
export async function login(
  em: EntityManager,
  tokens: TokenService,
  email: string,
  password: string,
): Promise<{ token: string; user: PublicUser }> {
  const user = await em.findOne(User, { email: email.trim().toLowerCase() });
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash()));
  if (!user || !ok) throw new AppError('UNAUTHORIZED', 'Invalid e-mail or password');
  return { token: tokens.issue({ sub: user.id, role: user.role, name: user.name }), user: publicUser(user) };
}
