import { Args, Field, ID, InputType, Int, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { CurrentActor } from './auth.guard.js';
import type { Actor } from './actor.js';
import { TokenService } from './token.service.js';

@InputType()
export class CreateApiTokenInput {
  @Field() name!: string;
  @Field(() => [String]) roles!: string[];
  @Field(() => [String], { nullable: true })
  scopes?: string[];
  @Field(() => Int, { nullable: true }) expiresInDays?: number;
}

@ObjectType('ApiToken')
export class ApiTokenModel {
  @Field(() => ID) id!: string;
  @Field() name!: string;
  @Field() prefix!: string;
  @Field(() => [String]) roles!: string[];
  @Field(() => [String]) scopes!: string[];
  @Field() createdBy!: string;
  @Field() createdAt!: string;
  @Field(() => String, { nullable: true }) expiresAt!: string | null;
  @Field(() => String, { nullable: true }) lastUsedAt!: string | null;
  @Field(() => String, { nullable: true }) revokedAt!: string | null;
}

@ObjectType()
export class CreatedApiToken {
  @Field() token!: string;
  @Field(() => ApiTokenModel) record!: ApiTokenModel;
}

@Resolver()
export class TokensResolver {
  constructor(private readonly tokens: TokenService) {}

  @Mutation(() => CreatedApiToken, {
    nullable: true,
    description: 'Admin: create an API token.',
  })
  createApiToken(@Args('input') input: CreateApiTokenInput, @CurrentActor() actor: Actor) {
    return this.tokens.create(
      { ...input, scopes: input.scopes ?? undefined, expiresInDays: input.expiresInDays ?? undefined },
      actor,
    );
  }

  @Query(() => [ApiTokenModel], { description: 'Admin: list API tokens (never their secrets).' })
  apiTokens(@CurrentActor() actor: Actor) {
    return this.tokens.list(actor);
  }

  @Mutation(() => ApiTokenModel, {
    nullable: true,
    description: 'Admin: revoke an API token.',
  })
  revokeApiToken(@Args('id', { type: () => ID }) id: string, @CurrentActor() actor: Actor) {
    return this.tokens.revoke(id, actor);
  }
}
