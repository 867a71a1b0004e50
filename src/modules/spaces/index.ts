import { Elysia, t } from "elysia";
import type { Deps } from "../../deps.ts";
import { authGuard } from "../../http/auth-guard.ts";
import { Envelope, ErrorResponses, ok, PageOf, PageQuery } from "../../http/envelope.ts";
import * as spaces from "../../services/spaces.ts";
import {
  CreateInviteBody,
  CreateSpaceBody,
  InviteParams,
  InviteSchema,
  JoinBody,
  MemberParams,
  MemberSchema,
  RoleBody,
  SpaceParams,
  SpaceSchema,
  SwitchBody,
  UpdateSpaceBody,
} from "./model.ts";

const security = [{ bearer: [] }];

export function spacesModule(deps: Deps) {
  const { db } = deps;
  return new Elysia({ prefix: "/api/v1/spaces", tags: ["spaces"] })
    .use(authGuard(deps))
    .get(
      "",
      async ({ query, caller }) =>
        ok(await spaces.listSpaces(db, caller.user.id, query.page ?? 1, query.page_size ?? 20)),
      {
        auth: true,
        query: PageQuery,
        response: { 200: Envelope(PageOf(SpaceSchema)), ...ErrorResponses },
        detail: { summary: "Spaces I belong to (personal first), with my role", security },
      },
    )
    .post(
      "",
      async ({ body, caller, set }) => {
        set.status = 201;
        return ok(await spaces.createTeamSpace(db, caller.user.id, body));
      },
      {
        auth: true,
        body: CreateSpaceBody,
        response: { 201: Envelope(SpaceSchema), ...ErrorResponses },
        detail: { summary: "Create a team space (I become its admin)", security },
      },
    )
    .get(
      "/current",
      async ({ caller }) => {
        const id = caller.user.current_space_id;
        return ok(id ? await spaces.getSpace(db, { userId: caller.user.id, spaceId: id }) : null);
      },
      {
        auth: true,
        response: { 200: Envelope(t.Nullable(SpaceSchema)), ...ErrorResponses },
        detail: { summary: "My current space", security },
      },
    )
    .post(
      "/switch",
      async ({ body, caller }) => ok(await spaces.switchSpace(db, { userId: caller.user.id, spaceId: body.space_id })),
      {
        auth: true,
        body: SwitchBody,
        response: { 200: Envelope(SpaceSchema), ...ErrorResponses },
        detail: { summary: "Switch my current space", security },
      },
    )
    .post(
      "/join",
      async ({ body, caller, set }) => {
        set.status = 201;
        return ok(await spaces.joinSpace(db, caller.user.id, body.invite_code));
      },
      {
        auth: true,
        body: JoinBody,
        response: { 201: Envelope(SpaceSchema), ...ErrorResponses },
        detail: {
          summary: "Join a team space with an invite code",
          description: "Unknown, revoked, expired or used-up codes answer 404.",
          security,
        },
      },
    )
    .get(
      "/:id",
      async ({ params, caller }) => ok(await spaces.getSpace(db, { userId: caller.user.id, spaceId: params.id })),
      {
        spaceRole: "viewer",
        params: SpaceParams,
        response: { 200: Envelope(SpaceSchema), ...ErrorResponses },
        detail: { summary: "Get a space I belong to", security },
      },
    )
    .patch(
      "/:id",
      async ({ params, body, caller }) =>
        ok(await spaces.updateSpace(db, { userId: caller.user.id, spaceId: params.id }, body)),
      {
        spaceRole: "admin",
        params: SpaceParams,
        body: UpdateSpaceBody,
        response: { 200: Envelope(SpaceSchema), ...ErrorResponses },
        detail: { summary: "Rename a space or change its logo (admin)", security },
      },
    )
    .delete(
      "/:id",
      async ({ params, caller }) => {
        await spaces.deleteSpace(db, { userId: caller.user.id, spaceId: params.id });
        return ok(null, "space deleted");
      },
      {
        spaceRole: "admin",
        params: SpaceParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Delete a team space (admin)", security },
      },
    )
    .post(
      "/:id/invites",
      async ({ params, body, caller, set }) => {
        set.status = 201;
        return ok(await spaces.createInvite(db, { userId: caller.user.id, spaceId: params.id }, body ?? {}));
      },
      {
        spaceRole: "admin",
        params: SpaceParams,
        body: CreateInviteBody,
        response: { 201: Envelope(InviteSchema), ...ErrorResponses },
        detail: { summary: "Create an invite code with a role, expiry and use limit (admin)", security },
      },
    )
    .get(
      "/:id/invites",
      async ({ params, caller }) => ok(await spaces.listInvites(db, { userId: caller.user.id, spaceId: params.id })),
      {
        spaceRole: "admin",
        params: SpaceParams,
        response: { 200: Envelope(t.Array(InviteSchema)), ...ErrorResponses },
        detail: { summary: "List a space's invite codes (admin)", security },
      },
    )
    .delete(
      "/:id/invites/:inviteId",
      async ({ params, caller }) =>
        ok(await spaces.revokeInvite(db, { userId: caller.user.id, spaceId: params.id, inviteId: params.inviteId })),
      {
        spaceRole: "admin",
        params: InviteParams,
        response: { 200: Envelope(InviteSchema), ...ErrorResponses },
        detail: { summary: "Revoke an invite code (admin)", security },
      },
    )
    .get(
      "/:id/members",
      async ({ params, query, caller }) =>
        ok(
          await spaces.listMembers(
            db,
            { userId: caller.user.id, spaceId: params.id },
            query.page ?? 1,
            query.page_size ?? 20,
          ),
        ),
      {
        spaceRole: "viewer",
        params: SpaceParams,
        query: PageQuery,
        response: { 200: Envelope(PageOf(MemberSchema)), ...ErrorResponses },
        detail: { summary: "Members of a space with their roles", security },
      },
    )
    .patch(
      "/:id/members/:userId",
      async ({ params, body, caller }) =>
        ok(
          await spaces.changeMemberRole(
            db,
            { userId: caller.user.id, spaceId: params.id, memberId: params.userId },
            body.role,
          ),
        ),
      {
        spaceRole: "admin",
        params: MemberParams,
        body: RoleBody,
        response: { 200: Envelope(t.Object({ user_id: t.String(), role: t.String() })), ...ErrorResponses },
        detail: { summary: "Change a member's role (admin)", security },
      },
    )
    .delete(
      "/:id/members/:userId",
      async ({ params, caller }) => {
        await spaces.removeMember(db, { userId: caller.user.id, spaceId: params.id, memberId: params.userId });
        return ok(null, "member removed");
      },
      {
        spaceRole: "admin",
        params: MemberParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Remove a member (admin)", security },
      },
    )
    .post(
      "/:id/leave",
      async ({ params, caller }) => {
        await spaces.leaveSpace(db, { userId: caller.user.id, spaceId: params.id });
        return ok(null, "left the space");
      },
      {
        spaceRole: "viewer",
        params: SpaceParams,
        response: { 200: Envelope(t.Null()), ...ErrorResponses },
        detail: { summary: "Leave a team space", security },
      },
    );
}
