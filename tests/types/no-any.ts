// No `any` in the public surface: each exported function's parameters and result, each class
// member and each option is checked (an `any` anywhere here fails to compile).
import { refresh, RefreshClient, RefreshError, AuthGateway } from "ida-refresh";
import type { RefreshOptions, RefreshResult, RefreshClientOptions, RetryOptions, GatewayOptions, AuthOutcome, Session, StorageAdapter, RefreshClientEventMap } from "ida-refresh";

type IsAny<T> = 0 extends 1 & T ? true : false;
/** true when some member of T is `any`. */
type AnyMember<T> = true extends { [K in keyof T]-?: IsAny<T[K]> }[keyof T] ? true : false;
type Fn = (...args: never[]) => unknown;
type AnyInFn<F extends Fn> = true extends IsAny<ReturnType<F>> | AnyMember<Parameters<F>> ? true : false;
type Methods<T> = { [K in keyof T]: T[K] extends Fn ? AnyInFn<T[K]> : IsAny<T[K]> }[keyof T];
type None<T extends false> = T;

export type Checks = [
  None<AnyInFn<typeof refresh>>,
  None<IsAny<Awaited<ReturnType<typeof refresh>>>>,
  None<AnyMember<RefreshOptions>>,
  None<AnyMember<Exclude<RefreshOptions["fetch"], undefined | { fetch: Fn }>>>,
  None<AnyInFn<Extract<NonNullable<RefreshOptions["fetch"]>, Fn>>>,
  None<AnyInFn<Extract<NonNullable<RefreshOptions["fetch"]>, { fetch: Fn }>["fetch"]>>,
  None<AnyMember<RefreshResult>>,
  None<AnyMember<Session>>,
  None<AnyMember<RefreshClientOptions>>,
  None<AnyMember<RetryOptions>>,
  None<AnyMember<RefreshClientEventMap>>,
  None<AnyMember<GatewayOptions>>,
  None<AnyMember<GatewayOptions["keys"]>>,
  None<AnyMember<AuthOutcome>>,
  None<true extends Methods<Extract<StorageAdapter, { set: Fn }>> ? true : false>,
  None<true extends Methods<Extract<StorageAdapter, { put: Fn }>> ? true : false>,
  None<AnyMember<ConstructorParameters<typeof RefreshClient>>>,
  None<true extends Methods<RefreshClient> ? true : false>,
  None<AnyMember<ConstructorParameters<typeof AuthGateway>>>,
  None<true extends Methods<AuthGateway> ? true : false>,
  None<AnyMember<NonNullable<ConstructorParameters<typeof RefreshError>[1]>>>,
  None<true extends Methods<RefreshError> ? true : false>,
];
