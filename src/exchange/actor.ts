import type { ActorConfig } from '../config/model.js';
import { AuthzError } from '../errors.js';
import { B64TOKEN } from '../oauth/b64token.js';
import type { RequestView } from '../request/view.js';

/**
 * The actor token for one exchange (RFC 8693 §2.1, delegation), or undefined
 * when there is none: from a request header, a static value, or the inbound
 * token itself.
 */
export function actorToken(actor: ActorConfig, view: RequestView, subjectToken: string, maxTokenBytes: number): string | undefined {
  switch (actor.source) {
    case 'none':
      return undefined;
    case 'subject':
      return subjectToken;
    case 'static':
      return actor.token;
    case 'header': {
      const values = view.headerValues(actor.header!);
      if (values.length === 0) return undefined;
      if (values.length > 1 || values[0]!.includes(',')) throw new AuthzError('invalid_request', 'the request carries more than one actor token');
      const token = values[0]!.trim().replace(/^bearer +/i, '');
      if (token.length > maxTokenBytes || !B64TOKEN.test(token)) throw new AuthzError('invalid_request', 'the actor token is malformed');
      return token;
    }
  }
}
