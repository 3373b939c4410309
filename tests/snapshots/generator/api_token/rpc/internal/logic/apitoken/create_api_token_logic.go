package apitoken

import (
	"context"

	"github.com/suyuan32/simple-admin-common/i18n"
	"github.com/suyuan32/simple-admin-common/utils/pointy"
	"github.com/suyuan32/simple-admin-common/utils/uuidx"
	"github.com/suyuan32/simple-admin-core/rpc/internal/svc"
	"github.com/suyuan32/simple-admin-core/rpc/internal/utils/dberrorhandler"
	"github.com/suyuan32/simple-admin-core/rpc/types/core"

	"github.com/zeromicro/go-zero/core/logx"
)

type CreateApiTokenLogic struct {
	ctx    context.Context
	svcCtx *svc.ServiceContext
	logx.Logger
}

func NewCreateApiTokenLogic(ctx context.Context, svcCtx *svc.ServiceContext) *CreateApiTokenLogic {
	return &CreateApiTokenLogic{
		ctx:    ctx,
		svcCtx: svcCtx,
		Logger: logx.WithContext(ctx),
	}
}

func (l *CreateApiTokenLogic) CreateApiToken(in *core.ApiTokenInfo) (*core.BaseUUIDResp, error) {
	result, err := l.svcCtx.DB.ApiToken.Create().
		SetNotNilStatus(pointy.GetStatusPointer(in.Status)).
		SetNotNilToken(in.Token).
		SetNotNilExpiresAt(pointy.GetTimeMilliPointer(in.ExpiresAt)).
		SetNotNilOwnerUUID(uuidx.ParseUUIDStringToPointer(in.OwnerUuid)).
		Save(l.ctx)

	if err != nil {
		return nil, dberrorhandler.DefaultEntError(l.Logger, err, in)
	}

	return &core.BaseUUIDResp{Id: result.ID.String(), Msg: i18n.CreateSuccess}, nil
}
