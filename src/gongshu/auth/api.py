"""Identity API: who am I, organisations, personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from gongshu.auth import service
from gongshu.auth.schemas import Me, OrgOut, TokenCreated, TokenIn, TokenOut
from gongshu.auth.service import Actor
from gongshu.web.deps import api_actor, get_db

router = APIRouter(prefix="/api/v1", tags=["auth 身份"])


@router.get("/me", response_model=Me)
def me(actor: Actor = Depends(api_actor)) -> Me:
    return Me(user_id=actor.user_id, username=actor.username, display_name=actor.display_name, org_id=actor.org_id,
              org_name=actor.org_name, org_kind=actor.org_kind, roles=sorted(actor.roles),
              token_scopes=list(actor.token_scopes) if actor.token_scopes is not None else None)


@router.get("/orgs", response_model=list[OrgOut])
def orgs(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[OrgOut]:
    return [OrgOut.model_validate(o, from_attributes=True) for o in service.orgs(session)]


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> list[TokenOut]:
    return [TokenOut.model_validate(t, from_attributes=True) for t in service.list_tokens(session, actor=actor)]


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> TokenCreated:
    plain, tok = service.create_token(session, actor=actor, name=body.name, scopes=body.scopes, days=body.days)
    return TokenCreated(token=plain, **TokenOut.model_validate(tok, from_attributes=True).model_dump())


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: int, actor: Actor = Depends(api_actor), session: Session = Depends(get_db)) -> TokenOut:
    return TokenOut.model_validate(service.revoke_token(session, actor=actor, token_id=token_id), from_attributes=True)
